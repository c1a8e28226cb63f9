"""Access tokens (HS256 JWTs) and opaque secrets (refresh and one-time tokens).

Opaque tokens are 256 random bits, URL-safe; only their SHA-256 is stored.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from core.config import get_settings

ISSUER = "cairn"
AUDIENCE = "cairn-api"
ALGORITHM = "HS256"
ACCESS_TOKEN_TTL = timedelta(minutes=15)
REFRESH_TOKEN_TTL = timedelta(days=7)
REQUIRED_CLAIMS = ["exp", "iat", "sub", "sid", "jti", "aud", "iss"]


class TokenExpired(Exception):
    """The access token was valid but its ``exp`` has passed."""


class TokenInvalid(Exception):
    """Malformed, forged, wrong algorithm, audience or issuer, or missing claims."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    session_id: str
    token_id: str


def issue_access_token(user_id: str, session_id: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "sid": str(session_id),
        "jti": uuid.uuid4().hex,
        "iat": int(now.timestamp()),
        "exp": int((now + ACCESS_TOKEN_TTL).timestamp()),
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    return jwt.encode(claims, get_settings().jwt_secret, algorithm=ALGORITHM)


def decode_access_token(token: str) -> AccessClaims:
    """Verify signature, algorithm, audience, issuer and expiry; raise TokenExpired or TokenInvalid."""
    claims, expires_at = _verified(token, get_settings().jwt_secret)
    if expires_at <= time.time():  # as PyJWT: expired at the second it names, no leeway
        raise TokenExpired
    return claims


@functools.lru_cache(maxsize=4096)
def _verified(token: str, secret: str) -> tuple[AccessClaims, int]:
    """Everything but the expiry, checked once per token and secret: a client sends the same
    token for its 15 minutes, and the rate limiter and the bearer check both read it (two
    decodes a request, 0.08 ms each). Raises TokenInvalid, which is never cached."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": REQUIRED_CLAIMS, "verify_exp": False},
        )
        expires_at = int(claims["exp"])
    except (jwt.InvalidTokenError, ValueError, TypeError, OverflowError) as exc:
        raise TokenInvalid(str(exc)) from None
    if not all(isinstance(claims[name], str) and claims[name] for name in ("sub", "sid", "jti")):
        raise TokenInvalid("sub, sid and jti must be non-empty strings")
    return AccessClaims(user_id=claims["sub"], session_id=claims["sid"], token_id=claims["jti"]), expires_at


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
