"""Rows → the contract's JSON shapes (camelCase, RFC 3339 UTC times). Shared by the handler modules."""

from __future__ import annotations

import json
from typing import Any

from core.formats import rfc3339
from models import AuditLog, Session, User
from services.paging import meta


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email,
        "name": user.name,
        "emailVerified": user.email_verified_at is not None,
        "role": user.role,
        "createdAt": rfc3339(user.created_at),
        "updatedAt": rfc3339(user.updated_at),
    }


def session_json(session: Session, current_session_id: str | None = None) -> dict[str, Any]:
    return {
        "id": str(session.id),
        "createdAt": rfc3339(session.created_at),
        "lastUsedAt": rfc3339(session.last_used_at),
        "expiresAt": rfc3339(session.expires_at),
        "ip": session.ip,
        "userAgent": session.user_agent,
        "current": str(session.id) == current_session_id,
    }


def audit_json(row: AuditLog) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "action": row.action,
        "actorId": str(row.actor_id) if row.actor_id else None,
        "targetType": row.target_type,
        "targetId": row.target_id,
        "ip": row.ip,
        "userAgent": row.user_agent,
        "requestId": row.request_id,
        "details": json.loads(row.details) if row.details else None,
        "createdAt": rfc3339(row.created_at),
    }


def audit_page(rows: list[AuditLog], total: int, page: int, limit: int) -> dict[str, Any]:
    """``{data, meta}`` for a page of audit rows (``/users/me/audit-logs`` and ``/admin/audit-logs``)."""
    return {"data": [audit_json(row) for row in rows], "meta": meta(total, page, limit)}
