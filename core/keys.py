"""The keys that sign and verify access tokens.

Without ``JWT_SIGNING_KEYS`` every token is HS256 with ``JWT_SECRET``, as before, and the JWKS
is empty. With it (``kid=path`` pairs of PKCS#8 PEM private keys: ES256 on P-256, or EdDSA on
Ed25519) the first key signs, every listed key verifies, each token names its key in ``kid``,
and the public halves are published as a JWKS so other services verify without a secret. The
algorithm always comes from the configured key, never from the token's header.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

VARIABLE = "JWT_SIGNING_KEYS"


class SigningKeyError(ValueError):
    """A configured key is unreadable, malformed, public only or of an unsupported kind."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private_key: Any

    @property
    def public_key(self) -> Any:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, str]:
        """The public half as a JWK (never a private part)."""
        encoder = ECAlgorithm if self.algorithm == "ES256" else OKPAlgorithm
        return {**encoder.to_jwk(self.public_key, as_dict=True), "kid": self.kid, "alg": self.algorithm, "use": "sig"}


def parse_key_paths(raw: str) -> tuple[tuple[str, str], ...]:
    """``kid=path,kid=path`` → ((kid, path), …); raises SigningKeyError for a malformed or repeated kid."""
    pairs = []
    for item in (part.strip() for part in raw.split(",") if part.strip()):
        kid, sep, path = item.partition("=")
        if not (sep and kid.strip() and path.strip()):
            raise SigningKeyError(f"{VARIABLE} must be kid=path pairs separated by commas, got {item!r}")
        pairs.append((kid.strip(), path.strip()))
    kids = [kid for kid, _ in pairs]
    if len(set(kids)) != len(kids):
        raise SigningKeyError(f"{VARIABLE} names a kid twice: {kids}")
    return tuple(pairs)


def _load(kid: str, path: str) -> SigningKey:
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"{VARIABLE}: key {kid!r} at {path} is unreadable: {exc.strerror}") from None
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise SigningKeyError(f"{VARIABLE}: key {kid!r} at {path} is not an unencrypted PEM private key") from None
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return SigningKey(kid, "ES256", key)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return SigningKey(kid, "EdDSA", key)
    raise SigningKeyError(f"{VARIABLE}: key {kid!r} at {path} must be EC P-256 (ES256) or Ed25519 (EdDSA)")


@functools.cache
def load_keys(pairs: tuple[tuple[str, str], ...]) -> tuple[SigningKey, ...]:
    """The configured keys, read once per process; the first signs."""
    return tuple(_load(kid, path) for kid, path in pairs)


def jwks(keys: tuple[SigningKey, ...]) -> dict[str, list[dict[str, str]]]:
    return {"keys": [key.jwk() for key in keys]}
