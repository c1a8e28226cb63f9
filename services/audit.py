"""The audit trail: security events, queued through the outbox, written by the worker."""

from __future__ import annotations

import json
from typing import Any

from core.logs import client_ip_var, request_id_var, user_agent_var
from models import OutboxMessage
from models.db import utcnow
from services import listing, outbox
from store import audit as store
from store.paging import Page

ACTIONS = (
    "user.registered",
    "auth.login_succeeded",
    "auth.login_failed",
    "auth.account_locked",
    "auth.logout",
    "auth.logout_others",
    "auth.logout_global",
    "auth.token_reuse_detected",
    "auth.password_reset_requested",
    "auth.password_reset",
    "auth.password_changed",
    "auth.email_verified",
    "auth.email_change_requested",
    "auth.email_changed",
    "auth.email_change_reverted",
    "user.deleted",
    "project.deleted",
    "admin.user_disabled",
    "admin.user_enabled",
    "admin.user_unlocked",
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


def write(message: OutboxMessage) -> None:
    """Write the event an outbox row carries (once: a redelivery writes nothing more)."""
    store.add_once(message.id, json.loads(message.payload))


def list_events(
    *,
    page: int | None = None,
    limit: int = 20,
    user_id: Any = None,
    action: str | None = None,
    cursor: str | None = None,
    scope: str = "audit:all",
) -> Page:
    """One page of audit rows, newest first: those about ``user_id`` (as actor or target user), of
    ``action``; by number or after a cursor made for ``scope``, with the cursor that follows it."""
    return listing.page_of(
        lambda **kw: store.page_of(limit=limit, **kw),
        scope=scope,
        cursor=cursor,
        page=page,
        sort=None,
        default_sort=store.NEWEST,
        filters={"user_id": user_id, "action": action},
    )
