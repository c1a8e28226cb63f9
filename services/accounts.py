"""The caller's own account: profile, password, email address, deletion and sessions; and the admin command.

Every change and its outbox rows (emails, audit events) share one write transaction.
"""

from __future__ import annotations

import re

from core.errors import EmailTaken, InvalidInput, NotFound
from core.passwords import hash_password, verify_password
from core.text import trim
from models import User
from services import audit, auth, emails, listing, one_time_tokens
from store import projects, users
from store.database import writing
from store.paging import Page

# The contract's Email, NewPassword and PersonName rules, for the one caller that bypasses the contract (the CLI).
PASSWORD_RULE = re.compile(r"^(?=.*[A-Z])(?=.*[0-9])[^\x00-\x1F\x7F]{8,}$")
PASSWORD_MAX_LENGTH = 128  # characters (code points), as the schema's maxLength counts them
NAME_RULE = re.compile(r"^[^\x00-\x1F\x7F]{2,100}$")
EMAIL_RULE = re.compile(
    r"^(?=[^@]{1,64}@)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def get_me(user_id: str) -> User:
    """The caller (authenticated, so live)."""
    return users.by_id(user_id)


def update_me(user_id: str, name: str | None = None) -> User:
    """Change the caller's name (trimmed). The schema guarantees at least one field."""
    if name is None:
        return users.by_id(user_id)
    return users.update(user_id, auth.clock(), name=trim(name))


def change_password(user_id: str, session_id: str, current_password: str, new_password: str) -> None:
    """Set a new password and end the user's other sessions (this one stays).

    Raises InvalidInput naming ``body.currentPassword`` when it is wrong (not 401: a client would
    refresh and retry forever).
    """
    user = users.by_id(user_id)
    if not verify_password(current_password, user.password_hash):
        raise InvalidInput("body.currentPassword", "is not the current password")
    password_hash = hash_password(new_password)
    now = auth.clock()
    with writing():
        users.update(user_id, now, password_hash=password_hash)
        users.revoke_sessions(user_id, now, keep=session_id)
        one_time_tokens.void_all(user_id, one_time_tokens.RESET_PASSWORD, now)
        one_time_tokens.void_all(user_id, one_time_tokens.CONFIRM_EMAIL_CHANGE, now)  # an intruder's pending change
        audit.record("auth.password_changed", user_id, "user", user_id)
        emails.queue_email("password_changed", user_id, user.email, {"sessionsEnded": "every other session"})


def request_email_change(user_id: str, session_id: str, new_email: str, current_password: str) -> None:
    """Ask to move the account to ``new_email``; nothing changes until the link sent there is used.

    Queues a confirmation link to the new address (1 hour; it remembers this session, which
    outlives the change) and, to the current address, a notice naming the new one with a revert
    link (7 days). A second request replaces the first: its confirmation link dies (its revert
    link stays: reverting an unconfirmed change keeps the address and still ends every session).

    Raises InvalidInput naming ``body.currentPassword`` when it is wrong, and EmailTaken when the
    address is the account's own, a live account's, or held for another account's revert link.
    """
    user = users.by_id(user_id)
    if not verify_password(current_password, user.password_hash):
        raise InvalidInput("body.currentPassword", "is not the current password")
    new_email = auth.normalise_email(new_email)
    now = auth.clock()
    if new_email == user.email or auth.email_unavailable(new_email, now, for_user=user_id):
        raise EmailTaken()
    facts = {"oldEmail": user.email, "newEmail": new_email}
    with writing():
        users.lock(user_id)  # two requests at once: the later one voids the earlier one's link
        replaced = one_time_tokens.void_all(user_id, one_time_tokens.CONFIRM_EMAIL_CHANGE, now)
        emails.queue_link_email(
            "confirm_email_change", user_id, new_email, facts, about=new_email, session_id=session_id
        )
        emails.queue_link_email("revert_email_change", user_id, user.email, facts, about=user.email)
        audit.record(
            "auth.email_change_requested", user_id, "user", user_id, {**facts, "pendingChangesReplaced": replaced}
        )


def delete_me(user_id: str) -> None:
    """Soft-delete the account, its projects and their milestones, and end every session.

    The email is free to register again (the unique index covers live users only).
    """
    now = auth.clock()
    with writing():
        deleted = projects.soft_delete_all_owned(user_id)
        users.soft_delete(user_id, now)
        users.revoke_sessions(user_id, now)
        audit.record("user.deleted", user_id, "user", user_id, {"projectsDeleted": deleted})


def list_sessions(user_id: str, *, page: int | None = None, limit: int = 20, cursor: str | None = None) -> Page:
    """One page of the user's live sessions, most recently used first; by number or after ``cursor``."""
    return listing.page_of(
        lambda **kw: users.sessions_page_of(user_id, now=auth.clock(), limit=limit, **kw),
        scope=f"sessions:{user_id}",
        cursor=cursor,
        page=page,
        sort=None,
        default_sort=users.RECENTLY_USED,
        filters={},
    )


def revoke_own_session(user_id: str, session_id: str) -> None:
    """End one of the caller's live sessions. Raises NotFound for anyone else's, a dead or an unknown one."""
    with writing():
        if not users.revoke_session(session_id, auth.clock(), user_id):
            raise NotFound("Session")
        audit.record("auth.logout", user_id, "session", session_id, {"sessionId": session_id})


def create_or_promote_admin(email: str, password: str, name: str = "Administrator") -> tuple[User, bool]:
    """Give the live account with this email the admin role, or create it; returns (user, created).

    An existing account keeps its password. Raises InvalidInput for an email, password or name the
    API would refuse (the CLI bypasses the contract), EmailTaken if a concurrent call won.
    """
    email = auth.normalise_email(email)
    user = users.live_by_email(email)
    if user:
        return users.update(user.id, auth.clock(), role="admin"), False
    name = trim(name)
    if len(email) > 254 or not EMAIL_RULE.match(email):
        raise InvalidInput("email", "is not a valid email address")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidInput("password", f"must be at most {PASSWORD_MAX_LENGTH} characters")
    if not PASSWORD_RULE.match(password):
        raise InvalidInput("password", "needs 8 characters or more, an upper-case letter and a digit")
    if not NAME_RULE.match(name):
        raise InvalidInput("name", "must be 2 to 100 characters, without control characters")
    password_hash = hash_password(password)
    with writing():
        return users.add(email, password_hash, name, auth.clock(), role="admin"), True
