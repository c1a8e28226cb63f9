"""The caller's own account: profile, password, deletion and sessions; and the admin command.

Every change and its outbox rows (emails, audit events) share one write transaction
(``services.tx.writing``).
"""

from __future__ import annotations

import re

from peewee import IntegrityError

from core.errors import ApiError, field_error, not_found
from core.passwords import hash_password, verify_password
from core.text import trim
from models import Milestone, Project, Session, User
from services import audit, auth, emails, one_time_tokens, tx

# The contract's Email, NewPassword and PersonName rules, for the one caller that bypasses the contract (the CLI).
PASSWORD_RULE = re.compile(r"^(?=.*[A-Z])(?=.*[0-9])[^\x00-\x1F\x7F]{8,}$")
NAME_RULE = re.compile(r"^[^\x00-\x1F\x7F]{2,100}$")
EMAIL_RULE = re.compile(
    r"^(?=[^@]{1,64}@)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def get_me(user_id: str) -> User:
    """The caller (authenticated, so live)."""
    return User.get_by_id(user_id)


def update_me(user_id: str, name: str | None = None) -> User:
    """Change the caller's name (trimmed). The schema guarantees at least one field."""
    if name is not None:
        User.update(name=trim(name), updated_at=auth.clock()).where(User.id == user_id).execute()
    return User.get_by_id(user_id)


def change_password(user_id: str, session_id: str, current_password: str, new_password: str) -> None:
    """Set a new password and end the user's other sessions (this one stays).

    Raises 400 ``VALIDATION_ERROR`` naming ``body.currentPassword`` when it is wrong (not 401: a
    client would refresh and retry forever), or ``body.newPassword`` when it is over 72 bytes.
    """
    auth.check_password_bytes(new_password, "body.newPassword")
    user = User.get_by_id(user_id)
    if not verify_password(current_password, user.password_hash):
        raise field_error("body.currentPassword", "is not the current password")
    password_hash = hash_password(new_password)
    now = auth.clock()
    with tx.writing():
        User.update(password_hash=password_hash, updated_at=now).where(User.id == user_id).execute()
        auth.revoke_sessions(user_id, now, keep=session_id)
        one_time_tokens.void_all(user_id, one_time_tokens.RESET_PASSWORD, now)
        audit.record("auth.password_changed", user_id, "user", user_id)
        emails.queue_email("password_changed", user_id, user.email)


def delete_me(user_id: str) -> None:
    """Soft-delete the account, its projects and their milestones, and end every session.

    The email is free to register again (the unique index covers live users only).
    """
    now = auth.clock()
    live_projects = Project.select(Project.id).where((Project.user == user_id) & Project.deleted_at.is_null())
    with tx.writing():
        Milestone.update(deleted_at=now, updated_at=now).where(
            Milestone.project.in_(live_projects) & Milestone.deleted_at.is_null()
        ).execute()
        projects = (
            Project.update(deleted_at=now, updated_at=now)
            .where((Project.user == user_id) & Project.deleted_at.is_null())
            .execute()
        )
        User.update(deleted_at=now, updated_at=now).where(User.id == user_id).execute()
        auth.revoke_sessions(user_id, now)
        audit.record("user.deleted", user_id, "user", user_id, {"projectsDeleted": projects})


def list_sessions(user_id: str) -> list[Session]:
    """The user's live sessions, most recently used first."""
    now = auth.clock()
    return list(
        Session.select()
        .where((Session.user == user_id) & Session.revoked_at.is_null() & (Session.expires_at > now))
        .order_by(Session.last_used_at.desc(), Session.id)
    )


def revoke_own_session(user_id: str, session_id: str) -> None:
    """End one of the caller's live sessions. Raises 404 for anyone else's, a dead or an unknown one."""
    with tx.writing():
        if not auth.revoke_session(session_id, auth.clock(), user_id):
            raise not_found("Session")
        audit.record("auth.logout", user_id, "session", session_id, {"sessionId": session_id})


def create_or_promote_admin(email: str, password: str, name: str = "Administrator") -> tuple[User, bool]:
    """Give the live account with this email the admin role, or create it; returns (user, created).

    An existing account keeps its password. Raises ``ApiError`` (VALIDATION_ERROR) for a password or
    name the API would refuse.
    """
    email = auth.normalise_email(email)
    user = auth.live_user_by_email(email)
    if user:
        User.update(role="admin", updated_at=auth.clock()).where(User.id == user.id).execute()
        return User.get_by_id(user.id), False
    name = trim(name)
    if len(email) > 254 or not EMAIL_RULE.match(email):
        raise field_error("email", "is not a valid email address")
    auth.check_password_bytes(password, "password")
    if not PASSWORD_RULE.match(password):
        raise field_error("password", "needs 8 characters or more, an upper-case letter and a digit")
    if not NAME_RULE.match(name):
        raise field_error("name", "must be 2 to 100 characters, without control characters")
    password_hash = hash_password(password)
    now = auth.clock()
    try:
        with tx.writing():
            user = User.create(
                email=email, password_hash=password_hash, name=name, role="admin", created_at=now, updated_at=now
            )
    except IntegrityError:
        raise ApiError("EMAIL_EXISTS", "Email already registered") from None
    return user, True
