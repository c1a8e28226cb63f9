"""Access tokens (JWTs) and opaque secrets (refresh and one-time tokens).

Access tokens are signed with the first of ``JWT_SIGNING_KEYS`` (ES256 or EdDSA, its ``kid`` in
the header) or, without them, HS256 with ``JWT_SECRET``. Opaque tokens are 256 random bits (or,
for a rotated refresh token, an HMAC of its parent's id: ``derived_token``), URL-safe; only
their SHA-256 is stored.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from core.config import get_settings
from core.keys import SigningKey, load_keys

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
    settings = get_settings()
    keys = load_keys(settings.jwt_signing_keys)
    if not keys:
        return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)
    signer = keys[0]
    return jwt.encode(claims, signer.private_key, algorithm=signer.algorithm, headers={"kid": signer.kid})


def decode_access_token(token: str) -> AccessClaims:
    """Verify signature, algorithm, audience, issuer and expiry; raise TokenExpired or TokenInvalid."""
    settings = get_settings()
    claims, expires_at = _verified(token, settings.jwt_secret, load_keys(settings.jwt_signing_keys))
    if expires_at <= time.time():  # as PyJWT: expired at the second it names, no leeway
        raise TokenExpired
    return claims


def _verifier(token: str, secret: str, keys: tuple[SigningKey, ...]) -> tuple[object, str]:
    """The key and algorithm this token must verify with: the configured key its ``kid`` names (a
    token without one, or naming a key no longer listed, is invalid), else HS256 with the secret."""
    if not keys:
        return secret, ALGORITHM
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError as exc:
        raise TokenInvalid(str(exc)) from None
    key = next((key for key in keys if key.kid == kid), None)
    if key is None:
        raise TokenInvalid(f"no configured key has kid {str(kid)[:40]!r}")
    return key.public_key, key.algorithm


@functools.lru_cache(maxsize=4096)
def _verified(token: str, secret: str, keys: tuple[SigningKey, ...]) -> tuple[AccessClaims, int]:
    """Everything but the expiry, checked once per token and key set: a client sends the same
    token for its 15 minutes, and the rate limiter and the bearer check both read it (two
    decodes a request, 0.08 ms each). Raises TokenInvalid, which is never cached."""
    key, algorithm = _verifier(token, secret, keys)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
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


def derived_token(purpose: str, parent_id: object) -> str:
    """An opaque token derived from a row id: unguessable without ``JWT_SECRET``, and the same each
    time, so it can be handed out again without ever being stored."""
    key = get_settings().jwt_secret.encode("utf-8")
    digest = hmac.new(key, f"{purpose}:{parent_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
