"""What admins do to other users' accounts: find them, disable and enable them, lift a lockout.

Disabled is a state of its own (``users.disabled_at``), apart from an unverified email: a
disabled account cannot log in (``AccountDisabled``, checked in ``services.auth.login``), gets no
reset email, and its sessions end in the same transaction that disables it. Every action is an
audit event with the admin as actor and the user as target.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from core.errors import Conflict, NotFound
from models import User
from services import audit, auth, listing, one_time_tokens
from store import users
from store.database import parse_id, writing
from store.paging import Page

STATUSES = ("active", "unverified", "disabled", "locked")


@dataclass(frozen=True)
class ManagedUser:
    """A user as admins see it: the account, the end of a live login lockout, its live sessions."""

    user: User
    locked_until: datetime | None
    session_count: int


def list_users(
    *,
    page: int | None = None,
    limit: int = 20,
    search: str | None = None,
    status: str | None = None,
    sort: str | None = None,
    cursor: str | None = None,
) -> Page:
    """One page of live users (rows are ``ManagedUser``), by number or after a cursor, with the cursor
    that follows it. Raises InvalidInput for an unknown sort key or a cursor not made for this list."""
    now = auth.clock()
    found = listing.page_of(
        lambda **kw: users.page_of(now=now, limit=limit, **kw),
        scope="admin:users",
        cursor=cursor,
        page=page,
        sort=sort,
        default_sort=users.NEWEST_USERS,
        filters={"search": search, "status": status},
    )
    return replace(found, rows=_managed(found.rows, now))


def get_user(user_id: Any) -> ManagedUser:
    """A live user. Raises NotFound."""
    return _managed([_live(user_id)], auth.clock())[0]


def disable_user(admin_id: Any, user_id: Any) -> ManagedUser:
    """Disable the account and, in the same transaction, end every session (their access and refresh
    tokens stop working on the next request) and void its password reset and email-change links. Disabling a disabled
    account changes nothing more. Raises Conflict for the admin's own account, NotFound."""
    if _same_id(admin_id, user_id):
        raise Conflict("Administrators cannot disable their own account")
    now = auth.clock()
    with writing():
        user = _live(user_id)
        if user.disabled_at is None:
            users.update(user.id, now, disabled_at=now)
        ended = users.revoke_sessions(user.id, now)
        for purpose in (one_time_tokens.RESET_PASSWORD, one_time_tokens.CONFIRM_EMAIL_CHANGE):
            one_time_tokens.void_all(user.id, purpose, now)
        audit.record("admin.user_disabled", admin_id, "user", user.id, {"sessionsEnded": ended})
    return get_user(user.id)


def enable_user(admin_id: Any, user_id: Any) -> ManagedUser:
    """Let a disabled account log in again (its ended sessions stay ended). Raises NotFound."""
    now = auth.clock()
    with writing():
        user = _live(user_id)
        if user.disabled_at is not None:
            users.update(user.id, now, disabled_at=None)
        audit.record("admin.user_enabled", admin_id, "user", user.id)
    return get_user(user.id)


def unlock_user(admin_id: Any, user_id: Any) -> ManagedUser:
    """Lift the failed-login lockout of the account's email and forget its failures. Raises NotFound."""
    with writing():
        user = _live(user_id)
        users.clear_throttle(user.email)
        audit.record("admin.user_unlocked", admin_id, "user", user.id)
    return get_user(user.id)


def _live(user_id: Any) -> User:
    user = users.live_by_id(user_id)
    if user is None:
        raise NotFound("User")
    return user


def _same_id(one: Any, other: Any) -> bool:
    return parse_id(one) is not None and parse_id(one) == parse_id(other)


def _managed(rows: list[User], now: datetime) -> list[ManagedUser]:
    """Each user with its lockout and live session count: two queries for the whole page."""
    locks = users.locks_of([user.email for user in rows], now)
    sessions = users.live_session_counts([user.id for user in rows], now)
    return [ManagedUser(user, locks.get(user.email), sessions.get(str(user.id), 0)) for user in rows]
