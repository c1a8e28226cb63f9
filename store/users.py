"""Users and what authenticates them: sessions, refresh tokens and the login throttle."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from peewee import Case, Expression, IntegrityError, Select, fn

from core.errors import EmailTaken
from models import LoginThrottle, RefreshToken, Session, User
from store.adapter import Prepared, Slot, contains, insert, slots
from store.database import locked, parse_id
from store.paging import Listing, Page, SortKey, after, ordering, paginate

# Users ----------------------------------------------------------------------------------------


def _live_with_email(email: Any) -> Any:
    return (User.email == email) & User.deleted_at.is_null()


def live_by_email(email: str) -> User | None:
    return User.get_or_none(_live_with_email(email))


def live_by_id(user_id: Any) -> User | None:
    """The live user, or None (also for an id that is not a UUID)."""
    pid = parse_id(user_id) if user_id else None
    return User.get_or_none((User.id == pid) & User.deleted_at.is_null()) if pid else None


def by_id(user_id: Any) -> User:
    return User.get_by_id(user_id)


def add(email: str, password_hash: str, name: str, now: datetime, role: str = "user") -> User:
    """Insert a user. Raises EmailTaken when a live user has the email (the unique index decides races)."""
    try:
        return User.create(
            email=email, password_hash=password_hash, name=name, role=role, created_at=now, updated_at=now
        )
    except IntegrityError:
        raise EmailTaken() from None


def update(user_id: Any, now: datetime, **values: Any) -> User:
    """Set ``values`` and move ``updated_at``; the user as stored now."""
    User.update(updated_at=now, **values).where(User.id == user_id).execute()
    return User.get_by_id(user_id)


def change_email(user_id: Any, email: str, now: datetime) -> User:
    """Give the user a new (or their old) address, verified. Raises EmailTaken when a live user has
    it (the unique index decides races; the caller's transaction must then roll back)."""
    try:
        return update(user_id, now, email=email, email_verified_at=now)
    except IntegrityError:
        raise EmailTaken() from None


def lock(user_id: Any) -> None:
    """Hold the user's row until the transaction ends (PostgreSQL; SQLite's write lock already does)."""
    locked(User.select(User.id).where(User.id == user_id)).execute()


def soft_delete(user_id: Any, now: datetime) -> None:
    User.update(deleted_at=now, updated_at=now).where(User.id == user_id).execute()


RECORD_LOGIN = Prepared(
    lambda: User.update(slots(User.last_login_at)).where((User.id == Slot("id")) & User.disabled_at.is_null())
)


def record_login(user_id: Any, now: datetime) -> bool:
    """Remember the login (not a profile change: ``updated_at`` stays); False if the account is
    disabled now. The UPDATE locks the row, so a disable either commits first (then False) or waits
    for this login's transaction and ends the session it starts."""
    return bool(RECORD_LOGIN.execute(id=user_id, last_login_at=now))


# What admins see: every live user, by status --------------------------------------------------

USER_SORT_KEYS = {"createdAt": SortKey(User.created_at), "email": SortKey(User.email)}
NEWEST_USERS = "-createdAt"


def _with_status(status: str) -> Expression:
    """``disabled``: disabled by an admin; ``unverified`` / ``active``: not disabled, the email not
    verified / verified; ``locked``: a live login lockout on the email, whatever the account's state."""
    if status == "disabled":
        return User.disabled_at.is_null(False)
    if status == "locked":
        return User.email.in_(LoginThrottle.select(LoginThrottle.email).where(LoginThrottle.locked_until > Slot("now")))
    return User.email_verified_at.is_null(status == "unverified") & User.disabled_at.is_null()


def page_of(
    *,
    now: datetime,
    page: int,
    limit: int,
    sort: str = NEWEST_USERS,
    search: str | None = None,
    status: str | None = None,
    last: tuple | None = None,
) -> Page:
    """One page of live users, numbered or after ``last``; ``search``: a substring of the email or
    the name (case-insensitive, ``%``, ``_`` and ``\\`` literal); ``status``: see ``_with_status``."""

    def query() -> Select:
        condition = User.deleted_at.is_null()
        if search:
            condition &= contains(User.email, "search") | contains(User.name, "search")
        if status:
            condition &= _with_status(status)
        return User.select().where(condition)

    listing = Listing(query, ("admin users", bool(search), status), {"search": search, "now": now})
    if last is not None:
        return after(listing, sort, USER_SORT_KEYS, User.id, last, limit)
    return paginate(listing, ordering(sort, USER_SORT_KEYS, User.id), page, limit)


def locks_of(emails: list[str], now: datetime) -> dict[str, datetime]:
    """When each of these emails' live login lockouts ends (emails not locked are left out)."""
    if not emails:
        return {}
    live = LoginThrottle.email.in_(emails) & (LoginThrottle.locked_until > now)
    return {row.email: row.locked_until for row in LoginThrottle.select().where(live)}


def live_session_counts(user_ids: list[Any], now: datetime) -> dict[str, int]:
    """Live (unrevoked, unexpired) sessions per user id (as text); users with none are left out."""
    if not user_ids:
        return {}
    live = Session.user.in_(user_ids) & Session.revoked_at.is_null() & (Session.expires_at > now)
    counted = Session.select(Session.user, fn.COUNT(Session.id).alias("n")).where(live).group_by(Session.user)
    return {str(row.user_id): row.n for row in counted}


# Sessions and refresh tokens ------------------------------------------------------------------

# The one query every authenticated request runs (rendered once: store/adapter.py).
LIVE_SESSION_ROLE = Prepared(
    lambda: (
        Session.select(User.role)
        .join(User)
        .where(
            (Session.id == Slot("session"))
            & (Session.user == Slot("user"))
            & Session.revoked_at.is_null()
            & (Session.expires_at > Slot("now"))
            & User.deleted_at.is_null()
            & User.disabled_at.is_null()
        )
    )
)
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


def live_session_role(user_id: str, session_id: str, now: datetime) -> str | None:
    """The user's role if the session is neither revoked nor expired and the user is live and not
    disabled; else None. (Disabling revokes every session too; this also refuses one a login racing
    the disable started.)"""
    return LIVE_SESSION_ROLE.scalar(session=session_id, user=user_id, now=now)


def add_session(user: User, now: datetime, ttl: timedelta, ip: str | None, user_agent: str | None) -> Session:
    session = Session(user=user, created_at=now, last_used_at=now, expires_at=now + ttl, ip=ip, user_agent=user_agent)
    return insert(session)


def add_refresh_token(session: Session, token_hash: str, now: datetime, parent_id: Any = None) -> None:
    insert(RefreshToken(session=session, token_hash=token_hash, created_at=now, parent_id=parent_id))


def unused_child(token: RefreshToken) -> RefreshToken | None:
    """The token that replaced ``token``, if it has not been rotated in its turn."""
    return RefreshToken.get_or_none((RefreshToken.parent_id == token.id) & RefreshToken.used_at.is_null())


def refresh_token_with_session(token_hash: str) -> RefreshToken | None:
    """The refresh token with its session and the session's user attached."""
    return TOKEN_WITH_SESSION.first(token_hash=token_hash)


def rotate(token: RefreshToken, now: datetime) -> bool:
    """Mark the token used and touch its session; False if another request used it first."""
    if not ROTATE_TOKEN.execute(id=token.id, used_at=now):
        return False
    TOUCH_SESSION.execute(id=token.session_id, last_used_at=now)
    return True


def revoke_sessions(user_id: Any, now: datetime, keep: str | None = None) -> int:
    """End every live session of the user (but ``keep``)."""
    query = Session.update(revoked_at=now).where((Session.user == user_id) & Session.revoked_at.is_null())
    if keep:
        query = query.where(Session.id != keep)
    return query.execute()


def revoke_session(session_id: str, now: datetime, user_id: str | None = None) -> bool:
    """End one live session (of ``user_id``, if given); False if it was already over or not theirs."""
    query = Session.update(revoked_at=now).where(
        (Session.id == session_id) & Session.revoked_at.is_null() & (Session.expires_at > now)
    )
    if user_id:
        query = query.where(Session.user == user_id)
    return bool(query.execute())


SESSION_SORT_KEYS = {"lastUsedAt": SortKey(Session.last_used_at)}
RECENTLY_USED = "-lastUsedAt"


def sessions_page_of(
    user_id: Any, *, now: datetime, page: int, limit: int, sort: str = RECENTLY_USED, last: tuple | None = None
) -> Page:
    """One page of the user's live sessions, most recently used first, numbered or after ``last``."""

    def query() -> Select:
        live = Session.revoked_at.is_null() & (Session.expires_at > Slot("now"))
        return Session.select().where((Session.user == Slot("user")) & live)

    listing = Listing(query, ("sessions",), {"user": user_id, "now": now})
    if last is not None:
        return after(listing, sort, SESSION_SORT_KEYS, Session.id, last, limit)
    return paginate(listing, ordering(sort, SESSION_SORT_KEYS, Session.id), page, limit)


# The login throttle ---------------------------------------------------------------------------


def count_attempt(email: str, now: datetime, window: timedelta) -> LoginThrottle:
    """Add one attempt to the email's window (a new window if the last one or its lock is over) and
    return the row as it stands. Call inside a write transaction: the count and the read are one step."""
    restart = (LoginThrottle.window_started_at <= now - window) | (LoginThrottle.locked_until <= now)
    LoginThrottle.insert(email=email, failures=1, window_started_at=now).on_conflict(
        conflict_target=[LoginThrottle.email],
        update={
            LoginThrottle.failures: Case(None, [(restart, 1)], LoginThrottle.failures + 1),
            LoginThrottle.window_started_at: Case(None, [(restart, now)], LoginThrottle.window_started_at),
            LoginThrottle.locked_until: Case(None, [(restart, None)], LoginThrottle.locked_until),
        },
    ).execute()
    return LoginThrottle.get(LoginThrottle.email == email)


def lock_if_reached(email: str, max_attempts: int, until: datetime) -> bool:
    """Lock the email until ``until`` once ``max_attempts`` are counted; True if this call locked it."""
    return bool(
        LoginThrottle.update(locked_until=until)
        .where(
            (LoginThrottle.email == email)
            & (LoginThrottle.failures >= max_attempts)
            & LoginThrottle.locked_until.is_null()
        )
        .execute()
    )


def clear_throttle(email: str) -> None:
    LoginThrottle.delete().where(LoginThrottle.email == email).execute()
