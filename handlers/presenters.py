"""Rows → the contract's JSON shapes (camelCase, RFC 3339 UTC times). Shared by the handler modules."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from core.config import QUEUES
from core.formats import iso_date, rfc3339
from models import AuditLog, Milestone, Project, Session, User
from services import idempotency
from services.admin import QueueStatus
from services.idempotency import StoredResponse
from services.projects import ProjectDetail
from services.user_admin import ManagedUser
from store.paging import Page

Reply = tuple[Any, int, dict[str, str]]
REPLAYED = {"Idempotent-Replayed": "true"}


def reply_once(
    user: str, operation: str, key: str | None, request: dict[str, Any], create: Callable[[], StoredResponse]
) -> Reply:
    """``create``'s response, or with ``key`` (the ``Idempotency-Key`` header) the one stored for it,
    marked ``Idempotent-Replayed: true`` (services/idempotency.py)."""
    response, replayed = idempotency.once(user, operation, key, request, create)
    return response.body, response.status, dict(response.headers) | (REPLAYED if replayed else {})


def page_json(page: Page, item_json: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """``{data, meta}``: one page of a list with the cursor to the next; a numbered page also has
    its exact total (a page after a cursor counts nothing)."""
    meta: dict[str, Any] = {"limit": page.limit, "nextCursor": page.cursor}
    if page.page is not None:
        meta |= {"total": page.total, "page": page.page, "totalPages": math.ceil(page.total / page.limit)}
    return {"data": [item_json(row) for row in page.rows], "meta": meta}


def project_json(project: Project) -> dict[str, Any]:
    return {
        "id": str(project.id),
        "name": project.name,
        "description": project.description,
        "status": project.status,
        "createdAt": rfc3339(project.created_at),
        "updatedAt": rfc3339(project.updated_at),
    }


def project_detail_json(detail: ProjectDetail) -> dict[str, Any]:
    return {**project_json(detail.project), "milestones": [milestone_json(m) for m in detail.milestones]}


def milestone_json(milestone: Milestone) -> dict[str, Any]:
    return {
        "id": str(milestone.id),
        "projectId": str(milestone.project_id),
        "title": milestone.title,
        "description": milestone.description,
        "dueDate": iso_date(milestone.due_date),
        "status": milestone.status,
        "createdAt": rfc3339(milestone.created_at),
        "updatedAt": rfc3339(milestone.updated_at),
    }


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


def managed_user_json(managed: ManagedUser) -> dict[str, Any]:
    """A user as admins see it (``AdminUser``)."""
    user = managed.user
    return {
        **user_json(user),
        "disabled": user.disabled_at is not None,
        "disabledAt": rfc3339(user.disabled_at),
        "lockedUntil": rfc3339(managed.locked_until),
        "lastLoginAt": rfc3339(user.last_login_at),
        "sessionCount": managed.session_count,
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


def queues_json(status: QueueStatus) -> dict[str, Any]:
    depths = status.depths
    return {
        "queues": [{"name": name, "pending": depths.get(name) if depths else None} for name in QUEUES],
        "outbox": status.outbox,
        "failedMessages": [failed_json(row) for row in status.failed],
        "workers": status.workers,
        "brokerReachable": depths is not None,
    }


def failed_json(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "task": row.task,
        "attempts": row.attempts,
        "lastError": row.last_error,
        "createdAt": rfc3339(row.created_at),
    }
