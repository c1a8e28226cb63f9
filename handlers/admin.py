"""Operations tagged ``admin``: every one needs the ``admin`` role (403 ``FORBIDDEN`` otherwise)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from core.errors import Forbidden
from handlers.presenters import audit_json, page_json, queues_json
from services import admin, audit

Reply = tuple[Any, int]


def admin_only(operation: Callable[..., Reply]) -> Callable[..., Reply]:
    """Refuse callers without the admin role (the role comes from the live session, see web.auth).

    Raises Forbidden. Connexion still sees the operation's own signature (``wraps``).
    """

    @wraps(operation)
    def guarded(*args: Any, token_info: dict, **kwargs: Any) -> Reply:
        if token_info.get("role") != "admin":
            raise Forbidden()
        return operation(*args, token_info=token_info, **kwargs)

    return guarded


@admin_only
def list_audit_logs(
    token_info: dict,  # noqa: ARG001 - read by admin_only
    action: str | None = None,
    userId: str | None = None,
    page: int | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> Reply:
    """Every user's security events, newest first, optionally of one action and about one user."""
    found = audit.list_events(user_id=userId, action=action, page=page, limit=limit, cursor=cursor)
    return page_json(found, audit_json), 200


@admin_only
def get_queues(token_info: dict) -> Reply:  # noqa: ARG001 - read by admin_only
    """Queue depths, outbox backlog, recent failures and live workers; answers with no worker or broker."""
    return queues_json(admin.queue_status()), 200
