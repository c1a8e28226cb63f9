"""Bearer authentication: Connexion's security middleware (``x-bearerInfoFunc``), then the session.

The JWT proves who signed it (``bearer_info``, on the event loop: no I/O). One
primary-key lookup (session joined to its user) proves the session is still live,
so logout, reuse detection, password changes and account deletion take effect on
the very next request: ``check_session``, called by the app before the handler, in
the request's own thread and on the request's own pooled connection. Running the
lookup inside the security middleware instead cost every request a second thread
hand-off and a second connection checkout.
"""

from __future__ import annotations

from core.errors import AccessTokenExpired, NotAuthenticated
from core.logs import user_id_var
from core.tokens import TokenExpired, TokenInvalid, decode_access_token
from services import auth


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
        raise AccessTokenExpired() from None
    except TokenInvalid:
        return None
    if not (_is_uuid_text(claims.user_id) and _is_uuid_text(claims.session_id)):
        return None
    user_id_var.set(claims.user_id)  # here, on the event loop, so the access log line carries it
    return {"sub": claims.user_id, "sid": claims.session_id, "role": None}


def check_session(token_info: dict) -> None:
    """Prove the token's session live and record the caller's role in ``token_info``.

    Raises 401 ``UNAUTHORIZED`` when the session is revoked or expired, or its user deleted or disabled.
    """
    role = auth.live_session_role(token_info["sub"], token_info["sid"])
    if role is None:
        raise NotAuthenticated()
    token_info["role"] = role
