"""Bearer authentication for Connexion's security middleware (``x-bearerInfoFunc``).

The JWT proves who signed it; one primary-key lookup (session joined to its
user) proves the session is still live, so logout, reuse detection, password
changes and account deletion take effect on the very next request.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool

from core.errors import ApiError
from core.logs import user_id_var
from core.tokens import TokenExpired, TokenInvalid, decode_access_token
from models import Session, User, db


def live_session(user_id: str, session_id: str) -> tuple[Session, User] | None:
    """The session and its user, if the session is neither revoked nor expired and the user is live."""
    now = datetime.now(UTC)
    with db.connection_context():
        row = (
            Session.select(Session, User)
            .join(User)
            .where(
                (Session.id == session_id)
                & (Session.user == user_id)
                & Session.revoked_at.is_null()
                & (Session.expires_at > now)
                & User.deleted_at.is_null()
            )
            .first()
        )
    return (row, row.user) if row else None


def _is_uuid_text(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def bearer_info(token: str) -> dict | None:
    """Token info for a valid access token of a live session; None (401) otherwise.

    Raises 401 ``TOKEN_EXPIRED`` for an expired token, so clients know to refresh.
    """
    try:
        claims = decode_access_token(token)
    except TokenExpired:
        raise ApiError("TOKEN_EXPIRED", "The access token has expired") from None
    except TokenInvalid:
        return None
    if not (_is_uuid_text(claims.user_id) and _is_uuid_text(claims.session_id)):
        return None
    found = await run_in_threadpool(live_session, claims.user_id, claims.session_id)
    if found is None:
        return None
    _session, user = found
    user_id_var.set(str(user.id))
    return {"sub": str(user.id), "sid": claims.session_id, "role": user.role}
