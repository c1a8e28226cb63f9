"""Authentication use cases: register, login (with lockout), refresh rotation, logout,
password reset and email verification.

Each use case changes state and writes its outbox rows (emails, audit events) in
one write transaction (``services.tx.writing``: ``BEGIN IMMEDIATE`` on SQLite, so a
read-then-write cannot fail half-way when a worker commits in between). bcrypt runs
outside transactions: it is the slow part and must not hold the write lock.

Time comes from ``clock`` so tests can move it instead of sleeping.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from peewee import Case, IntegrityError

from core.errors import ApiError, field_error
from core.passwords import dummy_hash, hash_password, too_long, verify_password
from core.requests import client_ip_var, user_agent_var
from core.text import trim
from core.tokens import ACCESS_TOKEN_TTL, REFRESH_TOKEN_TTL, hash_token, issue_access_token, new_opaque_token
from models import LoginThrottle, RefreshToken, Session, User
from models.db import utcnow
from models.prepared import Prepared, Slot, insert, slots
from services import audit, emails, one_time_tokens, tx

clock: Callable[[], datetime] = utcnow

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)


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


def check_password_bytes(password: str, field: str) -> None:
    """Raise 400 naming ``field`` if the password is over bcrypt's 72 UTF-8 bytes."""
    if too_long(password):
        raise field_error(field, "must be at most 72 UTF-8 bytes")


def _live_with_email(email: str):
    return (User.email == email) & User.deleted_at.is_null()


def live_user_by_email(email: str) -> User | None:
    return User.get_or_none(_live_with_email(email))


def unauthorized(message: str = "Invalid or expired refresh token") -> ApiError:
    return ApiError("UNAUTHORIZED", message)


# Sessions ------------------------------------------------------------------------------------


def _new_refresh_token(session: Session, now: datetime) -> str:
    token = new_opaque_token()
    insert(RefreshToken(session=session, token_hash=hash_token(token), created_at=now))
    return token


def _tokens(session: Session, refresh_token: str, now: datetime) -> Tokens:
    return Tokens(
        session_id=str(session.id),
        access_token=issue_access_token(str(session.user_id), str(session.id), now),
        refresh_token=refresh_token,
        expires_in=int(ACCESS_TOKEN_TTL.total_seconds()),
        session_expires_at=session.expires_at,
    )


def start_session(user: User, now: datetime) -> Tokens:
    """A new session (one per login or registration) with its first refresh token. Call inside a transaction."""
    session = insert(
        Session(
            user=user,
            created_at=now,
            last_used_at=now,
            expires_at=now + REFRESH_TOKEN_TTL,
            ip=client_ip_var.get(),
            user_agent=user_agent_var.get(),
        )
    )
    return _tokens(session, _new_refresh_token(session, now), now)


def revoke_sessions(user_id: str, now: datetime, keep: str | None = None) -> int:
    """End every live session of the user (but ``keep``); their access and refresh tokens stop working."""
    query = Session.update(revoked_at=now).where((Session.user == user_id) & Session.revoked_at.is_null())
    if keep:
        query = query.where(Session.id != keep)
    return query.execute()


def revoke_session(session_id: str, now: datetime, user_id: str | None = None) -> bool:
    """End one live session; False if it was already over (or is not the user's)."""
    query = Session.update(revoked_at=now).where(
        (Session.id == session_id) & Session.revoked_at.is_null() & (Session.expires_at > now)
    )
    if user_id:
        query = query.where(Session.user == user_id)
    return bool(query.execute())


# Register and login --------------------------------------------------------------------------


def register(email: str, password: str, name: str) -> tuple[User, Tokens]:
    """Create an account and its first session; queue the verification email.

    Raises 400 (password over 72 bytes) and 409 ``EMAIL_EXISTS``.
    """
    check_password_bytes(password, "body.password")
    email = normalise_email(email)
    if live_user_by_email(email):
        raise ApiError("EMAIL_EXISTS", "Email already registered")
    password_hash = hash_password(password)
    now = clock()
    try:
        with tx.writing():
            user = User.create(
                email=email, password_hash=password_hash, name=trim(name), created_at=now, updated_at=now
            )
            tokens = start_session(user, now)
            audit.record("user.registered", user.id, "user", user.id)
            emails.queue_email(one_time_tokens.VERIFY_EMAIL, user.id, email)
    except IntegrityError:
        # Lost a race with a concurrent registration: the unique index on live emails decided.
        raise ApiError("EMAIL_EXISTS", "Email already registered") from None
    return user, tokens


def account_locked(seconds: int) -> ApiError:
    return ApiError(
        "ACCOUNT_LOCKED",
        "Account temporarily locked after too many failed logins",
        headers={"Retry-After": str(seconds)},
    )


def _claim_attempt(email: str, now: datetime) -> int | None:
    """Count this attempt against the email's window before its password is checked; the seconds
    left on a lock if the email is locked or already has ``MAX_FAILURES`` attempts counted, else None.

    Counting first, in the same write transaction as the read, is what holds the line when many
    attempts arrive at once: each one takes its number, and only the first ``MAX_FAILURES`` get
    their password checked. A success gives its attempt back (``_forgive``).
    """
    restart = (LoginThrottle.window_started_at <= now - FAILURE_WINDOW) | (LoginThrottle.locked_until <= now)
    with tx.writing():
        LoginThrottle.insert(email=email, failures=1, window_started_at=now).on_conflict(
            conflict_target=[LoginThrottle.email],
            update={
                LoginThrottle.failures: Case(None, [(restart, 1)], LoginThrottle.failures + 1),
                LoginThrottle.window_started_at: Case(None, [(restart, now)], LoginThrottle.window_started_at),
                LoginThrottle.locked_until: Case(None, [(restart, None)], LoginThrottle.locked_until),
            },
        ).execute()
        throttle = LoginThrottle.get(LoginThrottle.email == email)
    if throttle.locked_until is not None:
        return max(1, math.ceil((throttle.locked_until - now).total_seconds()))
    if throttle.failures > MAX_FAILURES:  # the others are still being checked: locked if they fail
        return int(LOCKOUT.total_seconds())
    return None


def _login_failed(email: str, user: User | None, now: datetime) -> None:
    """The attempt is already counted; lock the email once ``MAX_FAILURES`` are."""
    target = user.id if user else None
    with tx.writing():
        audit.record("auth.login_failed", None, "user" if user else None, target, {"email": email})
        locked = (
            LoginThrottle.update(locked_until=now + LOCKOUT)
            .where(
                (LoginThrottle.email == email)
                & (LoginThrottle.failures >= MAX_FAILURES)
                & LoginThrottle.locked_until.is_null()
            )
            .execute()
        )
        if locked:
            audit.record("auth.account_locked", None, "user" if user else None, target, {"email": email})


def _forgive(email: str) -> None:
    """A right password gives its attempt back, and the earlier failures with it."""
    LoginThrottle.delete().where(LoginThrottle.email == email).execute()


def login(email: str, password: str) -> tuple[User, Tokens]:
    """Start a session for the right email and password.

    Raises 423 ``ACCOUNT_LOCKED`` (with ``Retry-After``) while the email is locked, even for the
    right password, and 401 ``INVALID_CREDENTIALS`` for an unknown email or a wrong password alike.
    Every answer takes one bcrypt check: an unknown email and a locked one are checked against a
    dummy hash, so timing tells nothing a status does not.
    """
    email = normalise_email(email)
    now = clock()
    user = live_user_by_email(email)  # unknown emails are throttled too: a 423 does not reveal an account
    seconds = _claim_attempt(email, now)
    if seconds:
        verify_password(password, dummy_hash())
        raise account_locked(seconds)
    matches = verify_password(password, user.password_hash if user else dummy_hash())
    if not (user and matches):
        _login_failed(email, user, now)
        raise ApiError("INVALID_CREDENTIALS", "Invalid email or password")
    with tx.writing():
        _forgive(email)
        tokens = start_session(user, now)
        audit.record("auth.login_succeeded", user.id, "user", user.id, {"sessionId": tokens.session_id})
    return user, tokens


# Refresh and logout --------------------------------------------------------------------------


def _reuse_detected(token: RefreshToken, now: datetime) -> ApiError:
    """A rotated token came back: someone holds a copy. End the whole session."""
    session = token.session
    with tx.writing():
        revoke_session(str(session.id), now)
        audit.record(
            "auth.token_reuse_detected", session.user_id, "session", session.id, {"sessionId": str(session.id)}
        )
    return unauthorized("Refresh token reuse detected; the session has been revoked")


# A refresh's statements (rendered once: models/prepared.py).
TOKEN_WITH_SESSION = Prepared(
    lambda: (
        RefreshToken.select(RefreshToken, Session, User)
        .join(Session)
        .join(User)
        .where(RefreshToken.token_hash == Slot("token_hash"))
    )
)
ROTATE_TOKEN = Prepared(
    lambda: RefreshToken.update(slots(RefreshToken.used_at)).where(
        (RefreshToken.id == Slot("id")) & RefreshToken.used_at.is_null()
    )
)
TOUCH_SESSION = Prepared(lambda: Session.update(slots(Session.last_used_at)).where(Session.id == Slot("id")))


def refresh(refresh_token: str | None) -> Tokens:
    """Rotate a refresh token: the presented one stops working, the new one keeps the session's expiry.

    Raises 401 ``UNAUTHORIZED`` for a missing, unknown, rotated, expired or revoked token; a rotated
    one presented again also revokes its whole session (reuse detection).
    """
    if not refresh_token:
        raise unauthorized("A refresh token is required")
    now = clock()
    token = TOKEN_WITH_SESSION.first(token_hash=hash_token(refresh_token))
    if token is None:
        raise unauthorized()
    session = token.session
    if session.revoked_at or session.expires_at <= now or session.user.deleted_at:
        raise unauthorized()
    if token.used_at:
        raise _reuse_detected(token, now)
    with tx.writing():
        if ROTATE_TOKEN.execute(id=token.id, used_at=now):
            TOUCH_SESSION.execute(id=session.id, last_used_at=now)
            return _tokens(session, _new_refresh_token(session, now), now)
    # A concurrent request rotated the same token first: that is reuse too.
    raise _reuse_detected(token, now)


def logout(user_id: str, session_id: str) -> None:
    """End the caller's session: its access and refresh tokens get 401 from now on."""
    now = clock()
    with tx.writing():
        revoke_session(session_id, now, user_id)
        audit.record("auth.logout", user_id, "session", session_id, {"sessionId": session_id})


# Password reset and email verification -------------------------------------------------------


def forgot_password(email: str) -> None:
    """Queue a reset email if a live account has this email; silent either way (no enumeration)."""
    user = live_user_by_email(normalise_email(email))
    if user is None:
        return
    with tx.writing():
        queued = emails.queue_email(one_time_tokens.RESET_PASSWORD, user.id, user.email)
        audit.record("auth.password_reset_requested", None, "user", user.id, {"emailQueued": queued})


def invalid_token() -> ApiError:
    return ApiError("INVALID_TOKEN", "The token is invalid or has expired")


def _live_user(user_id: str | None) -> User | None:
    return User.get_or_none((User.id == user_id) & User.deleted_at.is_null()) if user_id else None


def reset_password(token: str, password: str) -> None:
    """Set a new password with a reset token; end every session, lift a lockout, send a notice.

    Raises 400 ``VALIDATION_ERROR`` (password over 72 bytes; checked first, so the token is not
    spent) and 400 ``INVALID_TOKEN`` for an unknown, used or expired token.
    """
    check_password_bytes(password, "body.password")
    password_hash = hash_password(password)
    now = clock()
    with tx.writing():
        user = _live_user(one_time_tokens.consume(token, one_time_tokens.RESET_PASSWORD, now))
        if user is None:
            raise invalid_token()  # rolls the consumption back: nothing was spent
        # The link proved the mailbox is theirs, so the address counts as verified too.
        User.update(password_hash=password_hash, updated_at=now, email_verified_at=user.email_verified_at or now).where(
            User.id == user.id
        ).execute()
        revoke_sessions(str(user.id), now)
        one_time_tokens.void_all(user.id, one_time_tokens.RESET_PASSWORD, now)
        LoginThrottle.delete().where(LoginThrottle.email == user.email).execute()
        audit.record("auth.password_reset", user.id, "user", user.id)
        emails.queue_email("password_changed", user.id, user.email)


def verify_email(token: str) -> User:
    """Mark the address verified. Raises 400 ``INVALID_TOKEN`` for an unknown, used or expired token."""
    now = clock()
    with tx.writing():
        user = _live_user(one_time_tokens.consume(token, one_time_tokens.VERIFY_EMAIL, now))
        if user is None:
            raise invalid_token()
        if not user.email_verified_at:
            User.update(email_verified_at=now, updated_at=now).where(User.id == user.id).execute()
            audit.record("auth.email_verified", user.id, "user", user.id)
    return User.get_by_id(user.id)


def resend_verification(user_id: str) -> None:
    """Queue another verification email (at most one a minute per address); nothing for a verified user."""
    user = User.get_by_id(user_id)
    if user.email_verified_at:
        return
    with tx.writing():
        emails.queue_email(one_time_tokens.VERIFY_EMAIL, user.id, user.email)
