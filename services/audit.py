"""The audit trail: security events, queued through the outbox, written by the worker."""

from __future__ import annotations

from typing import Any

from core.logs import request_id_var
from core.requests import client_ip_var, user_agent_var
from models import AuditLog
from models.db import utcnow
from services import outbox

ACTIONS = (
    "user.registered",
    "auth.login_succeeded",
    "auth.login_failed",
    "auth.account_locked",
    "auth.logout",
    "auth.token_reuse_detected",
    "auth.password_reset_requested",
    "auth.password_reset",
    "auth.password_changed",
    "auth.email_verified",
    "user.deleted",
    "project.deleted",
)


def record(
    action: str,
    actor_id: Any = None,
    target_type: str | None = None,
    target_id: Any = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Queue an audit event in the current transaction, with who, from where and when."""
    assert action in ACTIONS, action
    payload = {
        "action": action,
        "actorId": str(actor_id) if actor_id else None,
        "targetType": target_type,
        "targetId": str(target_id) if target_id else None,
        "ip": client_ip_var.get(),
        "userAgent": user_agent_var.get(),
        "requestId": request_id_var.get(),
        "details": details or None,
        "occurredAt": utcnow().isoformat(),
    }
    outbox.enqueue("tasks.audit.write_audit_log", "audit", payload)


def list_events(
    actor_id: Any = None,
    action: str | None = None,
    page: int = 1,
    limit: int = 20,
    user_id: Any = None,
) -> tuple[list[AuditLog], int]:
    """One page of audit rows, newest first, and the total matching.

    ``actor_id``: rows where that user acted. ``user_id``: rows about that user, as actor or as
    the target user (a failed login on their account has no actor). ``action``: one action.
    """
    query = AuditLog.select()
    if actor_id:
        query = query.where(AuditLog.actor == actor_id)
    if user_id:
        about_user = (AuditLog.target_type == "user") & (AuditLog.target_id == str(user_id))
        query = query.where((AuditLog.actor == user_id) | about_user)
    if action:
        query = query.where(AuditLog.action == action)
    rows = query.order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).paginate(page, limit)
    return list(rows), query.count()
