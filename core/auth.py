"""Bearer authentication: Connexion's security middleware (``x-bearerInfoFunc``), then the session.

The JWT proves who signed it (``bearer_info``, on the event loop: no I/O). One
primary-key lookup (session joined to its user) proves the session is still live,
so logout, reuse detection, password changes and account deletion take effect on
the very next request: ``check_session``, called by the app before the handler, in
the request's own thread and on the request's own pooled connection. Running the
lookup inside the security middleware instead cost every request a second thread
hand-off and a second connection checkout (bench/HISTORY.md, item 1).
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.errors import ApiError
from core.logs import user_id_var
from core.tokens import TokenExpired, TokenInvalid, decode_access_token
from models import Session, User
from models.prepared import Prepared, Slot

# The one query every authenticated request runs (rendered once: models/prepared.py).
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
        )
    )
)


def live_session_role(user_id: str, session_id: str) -> str | None:
    """The user's role if the session is neither revoked nor expired and the user is live; else None."""
    return LIVE_SESSION_ROLE.scalar(session=session_id, user=user_id, now=datetime.now(UTC))


def _is_uuid_text(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def bearer_info(token: str) -> dict | None:
    """Token info for a well-signed, unexpired access token; None (401) otherwise.

    Raises 401 ``TOKEN_EXPIRED`` for an expired token, so clients know to refresh. The session
    is not checked here: ``check_session`` does it before the handler runs.
    """
    try:
        claims = decode_access_token(token)
    except TokenExpired:
        raise ApiError("TOKEN_EXPIRED", "The access token has expired") from None
    except TokenInvalid:
        return None
    if not (_is_uuid_text(claims.user_id) and _is_uuid_text(claims.session_id)):
        return None
    user_id_var.set(claims.user_id)  # here, on the event loop, so the access log line carries it
    return {"sub": claims.user_id, "sid": claims.session_id, "role": None}


def check_session(token_info: dict) -> None:
    """Prove the token's session live and record the caller's role in ``token_info``.

    Raises 401 ``UNAUTHORIZED`` when the session is revoked or expired or its user deleted.
    """
    role = live_session_role(token_info["sub"], token_info["sid"])
    if role is None:
        raise ApiError("UNAUTHORIZED", "Missing or invalid credentials")
    token_info["role"] = role
