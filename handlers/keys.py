"""Operations tagged ``keys``: the JWKS other services verify access tokens with."""

from __future__ import annotations

from typing import Any

from core.config import get_settings
from core.keys import jwks, load_keys

CACHE_FOR = "public, max-age=300"


def get_jwks() -> tuple[dict[str, Any], int, dict[str, str]]:
    """The public half of every configured signing key; empty when tokens are HS256."""
    return jwks(load_keys(get_settings().jwt_signing_keys)), 200, {"Cache-Control": CACHE_FOR}
