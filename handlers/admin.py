"""Operations tagged ``admin``: every one needs the ``admin`` role (403 ``FORBIDDEN`` otherwise)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from core.errors import Forbidden
from handlers.presenters import audit_json, managed_user_json, page_json, queues_json
from services import admin, audit, user_admin

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


@admin_only
def list_users(
    token_info: dict,  # noqa: ARG001 - read by admin_only
    page: int | None = None,
    limit: int = 20,
    search: str | None = None,
    status: str | None = None,
    sort: str | None = None,
    cursor: str | None = None,
) -> Reply:
    """Live users, newest first unless sorted, optionally searched and of one status."""
    found = user_admin.list_users(page=page, limit=limit, search=search, status=status, sort=sort, cursor=cursor)
    return page_json(found, managed_user_json), 200


@admin_only
def get_user(token_info: dict, userId: str) -> Reply:  # noqa: ARG001 - read by admin_only
    """One live user with its lockout, last login and live session count."""
    return managed_user_json(user_admin.get_user(userId)), 200


@admin_only
def disable_user(token_info: dict, userId: str) -> Reply:
    """Disable the account and end its sessions at once; 409 for the caller's own."""
    return managed_user_json(user_admin.disable_user(token_info["sub"], userId)), 200


@admin_only
def enable_user(token_info: dict, userId: str) -> Reply:
    """Let a disabled account log in again."""
    return managed_user_json(user_admin.enable_user(token_info["sub"], userId)), 200


@admin_only
def unlock_user(token_info: dict, userId: str) -> Reply:
    """Lift the account's failed-login lockout."""
    return managed_user_json(user_admin.unlock_user(token_info["sub"], userId)), 200
