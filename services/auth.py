"""Authentication use cases: register, login (with lockout), refresh rotation, logout,
password reset, email verification, and confirming or reverting an email change.

Each use case changes state and writes its outbox rows (emails, audit events) in one write
transaction (``store.database.writing``). bcrypt runs outside transactions: it is the slow part
and must not hold the write lock. Time comes from ``clock`` so tests can move it instead of sleeping.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.config import get_settings
from core.errors import AccountDisabled, AccountLocked, EmailTaken, InvalidCredentials, InvalidToken, NotAuthenticated
from core.logs import client_ip_var, user_agent_var
from core.passwords import dummy_hash, hash_password, verify_password
from core.text import trim
from core.tokens import (
    ACCESS_TOKEN_TTL,
    REFRESH_TOKEN_TTL,
    derived_token,
    hash_token,
    issue_access_token,
    new_opaque_token,
)
from models import OneTimeToken, RefreshToken, Session, User
from models.db import utcnow
from services import audit, emails, one_time_tokens
from store import users
from store.database import writing

clock: Callable[[], datetime] = utcnow

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
INVALID_REFRESH = "Invalid or expired refresh token"


@dataclass(frozen=True)
class Tokens:
    session_id: str
    access_token: str
    refresh_token: str
    expires_in: int
    session_expires_at: datetime


def normalise_email(email: str) -> str:
    """Lower-cased in Python: SQLite's LOWER() folds ASCII only, so the database must not do it."""
    return email.strip().lower()


# Sessions ------------------------------------------------------------------------------------


def _tokens(session: Session, refresh_token: str, now: datetime) -> Tokens:
    return Tokens(
        session_id=str(session.id),
        access_token=issue_access_token(str(session.user_id), str(session.id), now),
        refresh_token=refresh_token,
        expires_in=int(ACCESS_TOKEN_TTL.total_seconds()),
        session_expires_at=session.expires_at,
    )


def _new_refresh_token(session: Session, now: datetime) -> str:
    token = new_opaque_token()
    users.add_refresh_token(session, hash_token(token), now)
    return token


def start_session(user: User, now: datetime) -> Tokens:
    """A new session (one per login or registration) with its first refresh token. Call inside a transaction."""
    session = users.add_session(user, now, REFRESH_TOKEN_TTL, client_ip_var.get(), user_agent_var.get())
    return _tokens(session, _new_refresh_token(session, now), now)


def live_session_role(user_id: str, session_id: str) -> str | None:
    """The user's role while the session is live (not revoked or expired, the user not deleted); else None."""
    return users.live_session_role(user_id, session_id, utcnow())


# Register and login --------------------------------------------------------------------------


def register(email: str, password: str, name: str) -> tuple[User, Tokens]:
    """Create an account and its first session; queue the verification email.

    Raises EmailTaken.
    """
    email = normalise_email(email)
    now = clock()
    if email_unavailable(email, now):
        raise EmailTaken()
    password_hash = hash_password(password)
    with writing():
        user = users.add(email, password_hash, trim(name), now)
        tokens = start_session(user, now)
        audit.record("user.registered", user.id, "user", user.id)
        emails.queue_email(one_time_tokens.VERIFY_EMAIL, user.id, email)
    return user, tokens


def email_unavailable(email: str, now: datetime, for_user: str | None = None) -> bool:
    """Whether ``email`` (normalised) is another live account's, or held for another account by a
    live revert link (an address given up by an email change can be taken back for 7 days, so no
    one else may register it meanwhile)."""
    holder = users.live_by_email(email)
    if holder is not None and str(holder.id) != str(for_user):
        return True
    return one_time_tokens.reserved_by_revert(email, now, for_anyone_but=for_user)


def _claim_attempt(email: str, now: datetime) -> int | None:
    """Count this attempt against the email's window before its password is checked; the seconds
    left on a lock if the email is locked or already has ``MAX_FAILURES`` attempts counted, else None.

    Counting first, in one write transaction with the read, holds the line when many attempts
    arrive at once: each takes its number, and only the first ``MAX_FAILURES`` get their password
    checked. A success gives its attempt back (``users.clear_throttle``).
    """
    with writing():
        throttle = users.count_attempt(email, now, FAILURE_WINDOW)
    if throttle.locked_until is not None:
        return max(1, math.ceil((throttle.locked_until - now).total_seconds()))
    if throttle.failures > MAX_FAILURES:  # the others are still being checked: locked if they fail
        return int(LOCKOUT.total_seconds())
    return None


def _login_failed(email: str, user: User | None, now: datetime, reason: str | None = None) -> None:
    """The attempt is already counted; lock the email once ``MAX_FAILURES`` are."""
    target = user.id if user else None
    details = {"email": email, **({"reason": reason} if reason else {})}
    with writing():
        audit.record("auth.login_failed", None, "user" if user else None, target, details)
        if users.lock_if_reached(email, MAX_FAILURES, now + LOCKOUT):
            audit.record("auth.account_locked", None, "user" if user else None, target, {"email": email})


def login(email: str, password: str) -> tuple[User, Tokens]:
    """Start a session for the right email and password.

    Raises AccountLocked (with the seconds left) while the email is locked, even for the right
    password; then AccountDisabled for a disabled account, whatever the password (never checked:
    its answer would tell whether the password was right); and InvalidCredentials for an unknown
    email or a wrong password alike. Every answer takes one bcrypt check: an unknown email, a
    locked and a disabled one are checked against a dummy hash, so timing tells nothing a status
    does not. A disabled account's attempt counts as a failure, writes included, exactly as a
    wrong password's does.
    """
    email = normalise_email(email)
    now = clock()
    user = users.live_by_email(email)  # unknown emails are throttled too: a 423 does not reveal an account
    seconds = _claim_attempt(email, now)
    if seconds:
        verify_password(password, dummy_hash())
        raise AccountLocked(seconds)
    if user and user.disabled_at:
        verify_password(password, dummy_hash())
        _login_failed(email, user, now, reason="account_disabled")
        raise AccountDisabled()
    matches = verify_password(password, user.password_hash if user else dummy_hash())
    if not (user and matches):
        _login_failed(email, user, now)
        raise InvalidCredentials()
    with writing():
        users.clear_throttle(email)  # gives this attempt back, and forgives the failures before it
        if not users.record_login(user.id, now):  # disabled while its password was being checked
            raise AccountDisabled()
        tokens = start_session(user, now)
        audit.record("auth.login_succeeded", user.id, "user", user.id, {"sessionId": tokens.session_id})
    return user, tokens


# Refresh and logout --------------------------------------------------------------------------


def _reuse_detected(token: RefreshToken, now: datetime) -> NotAuthenticated:
    """A rotated token came back: someone holds a copy. End the whole session."""
    session = token.session
    with writing():
        users.revoke_session(str(session.id), now)
        audit.record(
            "auth.token_reuse_detected", session.user_id, "session", session.id, {"sessionId": str(session.id)}
        )
    return NotAuthenticated("Refresh token reuse detected; the session has been revoked")


def refresh(refresh_token: str | None) -> Tokens:
    """Rotate a refresh token: the presented one stops working, the new one keeps the session's expiry.

    A token rotated less than ``REFRESH_REUSE_GRACE_SECONDS`` ago whose replacement is still
    unused (two tabs refreshing at once) gets that same replacement again, and the session lives.
    Raises NotAuthenticated for a missing, unknown, expired or revoked token; a rotated one
    presented again past the grace, or two or more rotations old, also revokes its whole session.
    """
    if not refresh_token:
        raise NotAuthenticated("A refresh token is required")
    now = clock()
    token_hash = hash_token(refresh_token)
    token = _live_refresh_token(token_hash, now)
    if token.used_at is None:
        with writing():
            if users.rotate(token, now):
                return _tokens(token.session, _replacement(token, now), now)
        token = _live_refresh_token(token_hash, now)  # a concurrent request rotated it first
    if _within_grace(token, now) and users.unused_child(token) is not None:
        return _tokens(token.session, derived_token("refresh", token.id), now)
    raise _reuse_detected(token, now)


def _live_refresh_token(token_hash: str, now: datetime) -> RefreshToken:
    token = users.refresh_token_with_session(token_hash)
    if token is None:
        raise NotAuthenticated(INVALID_REFRESH)
    session = token.session
    user = session.user
    if session.revoked_at or session.expires_at <= now or user.deleted_at or user.disabled_at:
        raise NotAuthenticated(INVALID_REFRESH)
    return token


def _replacement(parent: RefreshToken, now: datetime) -> str:
    """The token that replaces ``parent``: derived from its id, so it can be handed out again in the grace."""
    token = derived_token("refresh", parent.id)
    users.add_refresh_token(parent.session, hash_token(token), now, parent_id=parent.id)
    return token


def _within_grace(token: RefreshToken, now: datetime) -> bool:
    grace = get_settings().refresh_reuse_grace_seconds
    return grace > 0 and token.used_at is not None and now - token.used_at <= timedelta(seconds=grace)


def logout(user_id: str, session_id: str, scope: str = "local") -> None:
    """End sessions of the caller: ``local`` this one, ``others`` all but this one, ``global`` all.
    Their access and refresh tokens stop working."""
    now = clock()
    with writing():
        if scope == "local":
            users.revoke_session(session_id, now, user_id)
            audit.record("auth.logout", user_id, "session", session_id, {"sessionId": session_id})
            return
        ended = users.revoke_sessions(user_id, now, keep=session_id if scope == "others" else None)
        audit.record(
            f"auth.logout_{scope}", user_id, "user", user_id, {"sessionId": session_id, "sessionsEnded": ended}
        )


# Password reset and email verification -------------------------------------------------------


def forgot_password(email: str) -> None:
    """Queue a reset email if a live, enabled account has this email; silent either way (no enumeration).

    A disabled account gets nothing: a reset would not let it in, and an admin disabled it."""
    user = users.live_by_email(normalise_email(email))
    if user is None or user.disabled_at:
        return
    with writing():
        queued = emails.queue_email(one_time_tokens.RESET_PASSWORD, user.id, user.email)
        audit.record("auth.password_reset_requested", None, "user", user.id, {"emailQueued": queued})


def reset_password(token: str, password: str) -> None:
    """Set a new password with a reset token; end every session, lift a lockout, send a notice.

    Raises InvalidToken for an unknown, used or expired token.
    """
    password_hash = hash_password(password)
    now = clock()
    with writing():
        user = users.live_by_id(one_time_tokens.consume(token, one_time_tokens.RESET_PASSWORD, now))
        if user is None:
            raise InvalidToken()  # rolls the consumption back: nothing was spent
        # The link proved the mailbox is theirs, so the address counts as verified too.
        users.update(user.id, now, password_hash=password_hash, email_verified_at=user.email_verified_at or now)
        users.revoke_sessions(user.id, now)
        one_time_tokens.void_all(user.id, one_time_tokens.RESET_PASSWORD, now)
        one_time_tokens.void_all(user.id, one_time_tokens.CONFIRM_EMAIL_CHANGE, now)  # pending changes die too
        users.clear_throttle(user.email)
        audit.record("auth.password_reset", user.id, "user", user.id)
        emails.queue_email("password_changed", user.id, user.email, {"sessionsEnded": "every session"})


def verify_email(token: str) -> User:
    """Mark the address verified. Raises InvalidToken for an unknown, used or expired token."""
    now = clock()
    with writing():
        user = users.live_by_id(one_time_tokens.consume(token, one_time_tokens.VERIFY_EMAIL, now))
        if user is None:
            raise InvalidToken()
        if not user.email_verified_at:
            user = users.update(user.id, now, email_verified_at=now)
            audit.record("auth.email_verified", user.id, "user", user.id)
    return users.by_id(user.id)


def resend_verification(user_id: str) -> None:
    """Queue another verification email (at most one a minute per address); nothing for a verified user."""
    user = users.by_id(user_id)
    if user.email_verified_at:
        return
    with writing():
        emails.queue_email(one_time_tokens.VERIFY_EMAIL, user.id, user.email)


# Email change --------------------------------------------------------------------------------

# Links that went to an address the account no longer uses stop working when it changes.
VOIDED_BY_CHANGE = (one_time_tokens.VERIFY_EMAIL, one_time_tokens.RESET_PASSWORD)
# "This was not me": every pending confirmation and every link sent to the replaced address; and
# the revert links of *later* changes, so an intruder who changed the address twice cannot use the
# second change's revert link (sent to their own mailbox) to void the victim's, which is older.
VOIDED_BY_REVERT = (one_time_tokens.CONFIRM_EMAIL_CHANGE, one_time_tokens.VERIFY_EMAIL, one_time_tokens.RESET_PASSWORD)


def _address_token(token: str, purpose: str, now: datetime) -> tuple[OneTimeToken, User]:
    """Spend an email-change token (inside the caller's write transaction) and return its row, which
    names the address to switch to, with its live, enabled user. Raises InvalidToken (a disabled
    account's links are dead too), and EmailTaken when the address is no longer free (the caller's
    transaction then rolls the spending back)."""
    row = one_time_tokens.consume_row(token, purpose, now)
    user = users.live_by_id(row.user_id) if row else None
    if user is None or user.disabled_at is not None:
        raise InvalidToken()
    if email_unavailable(row.email, now, for_user=str(user.id)):
        raise EmailTaken()
    return row, user


def confirm_email_change(token: str) -> User:
    """Make the requested address the account's, verified; end every session but the one that
    asked; send the "email changed" notice to the new address.

    Raises InvalidToken for an unknown, used, replaced or expired token, and EmailTaken if the
    address was taken (or held by another account's revert link) since the request: then nothing
    changes and the token is not spent (the link works again if the address comes free within its hour).
    """
    now = clock()
    with writing():
        row, user = _address_token(token, one_time_tokens.CONFIRM_EMAIL_CHANGE, now)
        old_email, new_email = user.email, row.email
        user = users.change_email(user.id, new_email, now)
        kept = str(row.session_id) if row.session_id else None
        ended = users.revoke_sessions(user.id, now, keep=kept)
        for purpose in VOIDED_BY_CHANGE:
            one_time_tokens.void_all(user.id, purpose, now)
        facts = {"oldEmail": old_email, "newEmail": new_email}
        audit.record("auth.email_changed", user.id, "user", user.id, {**facts, "sessionsEnded": ended})
        emails.queue_email("email_changed", user.id, new_email, facts)
    return user


def revert_email_change(token: str) -> User:
    """Put back (or keep) the address the revert link was sent to, verified; cancel any pending
    change; end every session; email that address a link to choose a new password.

    Raises InvalidToken for an unknown, used, voided or expired token, and EmailTaken should another
    account have the address after all (a safety net: the link holds it from the request on, see
    ``email_unavailable``): then nothing changes and the token is not spent.
    """
    now = clock()
    with writing():
        row, user = _address_token(token, one_time_tokens.REVERT_EMAIL_CHANGE, now)
        replaced, restored = user.email, row.email
        user = users.change_email(user.id, restored, now)
        ended = users.revoke_sessions(user.id, now)
        for purpose in VOIDED_BY_REVERT:
            one_time_tokens.void_all(user.id, purpose, now)
        one_time_tokens.void_all(user.id, one_time_tokens.REVERT_EMAIL_CHANGE, now, created_after=row.created_at)
        details = {"restoredEmail": restored, "replacedEmail": replaced, "sessionsEnded": ended}
        audit.record("auth.email_change_reverted", user.id, "user", user.id, details)
        emails.queue_email("email_change_reverted", user.id, restored, {"oldEmail": restored})
    return user
