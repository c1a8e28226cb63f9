"""Operations tagged ``users``: the caller's own account, sessions and security events."""

from __future__ import annotations

from typing import Any

from handlers.presenters import audit_json, page_json, session_json, user_json
from services import accounts, audit

Reply = tuple[Any, int]
EMAIL_CHANGE_MESSAGE = (
    "A confirmation link has been sent to the new address, and a notice to the current one. "
    "The address changes once the link is used."
)


def get_me(user: str) -> Reply:
    return user_json(accounts.get_me(user)), 200


def update_me(user: str, body: dict) -> Reply:
    return user_json(accounts.update_me(user, name=body.get("name"))), 200


def delete_me(user: str) -> Reply:
    """Soft-delete the account and its projects; every session ends."""
    accounts.delete_me(user)
    return None, 204


def change_password(user: str, token_info: dict, body: dict) -> Reply:
    """Ends the other sessions; this one stays."""
    accounts.change_password(user, token_info["sid"], body["currentPassword"], body["newPassword"])
    return None, 204


def change_email(user: str, token_info: dict, body: dict) -> Reply:
    """Nothing changes until the link sent to the new address is used; this session outlives it."""
    accounts.request_email_change(user, token_info["sid"], body["newEmail"], body["currentPassword"])
    return {"message": EMAIL_CHANGE_MESSAGE}, 202


def list_sessions(
    user: str, token_info: dict, page: int | None = None, limit: int = 20, cursor: str | None = None
) -> Reply:
    """``current`` marks the session making the request."""
    found = accounts.list_sessions(user, page=page, limit=limit, cursor=cursor)
    return page_json(found, lambda session: session_json(session, token_info["sid"])), 200


def revoke_session(user: str, sessionId: str) -> Reply:
    accounts.revoke_own_session(user, sessionId)
    return None, 204


def list_my_audit_logs(user: str, page: int | None = None, limit: int = 20, cursor: str | None = None) -> Reply:
    """Events the caller caused or that concern their account, newest first."""
    found = audit.list_events(user_id=user, page=page, limit=limit, cursor=cursor, scope=f"audit:{user}")
    return page_json(found, audit_json), 200
