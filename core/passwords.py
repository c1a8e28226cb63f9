"""Password hashing with bcrypt (cost from BCRYPT_ROUNDS, 10 in production).

bcrypt only reads 72 bytes and bcrypt 5 raises past that; the API refuses such
passwords at registration (400), and a login with one simply fails.
"""

from __future__ import annotations

import bcrypt

from core.config import get_settings

MAX_PASSWORD_BYTES = 72


def too_long(password: str) -> bool:
    return len(password.encode("utf-8")) > MAX_PASSWORD_BYTES


def hash_password(password: str) -> str:
    rounds = get_settings().bcrypt_rounds
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """Constant work whatever the input: a too-long password is checked against its prefix and fails."""
    candidate = password.encode("utf-8")
    if len(candidate) > MAX_PASSWORD_BYTES:
        bcrypt.checkpw(candidate[:MAX_PASSWORD_BYTES], password_hash.encode("ascii"))
        return False
    return bcrypt.checkpw(candidate, password_hash.encode("ascii"))


_dummy_hash: str | None = None


def dummy_hash() -> str:
    """A real hash at the configured cost, to check against when the email is unknown (same timing)."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password("not-a-real-password-0")
    return _dummy_hash
