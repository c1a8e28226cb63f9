"""Password hashing with bcrypt (cost from BCRYPT_ROUNDS, 10 in production) over a pre-hash.

bcrypt reads at most 72 bytes (bcrypt 5 raises past that) and stops at a NUL byte, while a
password may be up to 128 characters of any Unicode (the schema's rule, up to 512 UTF-8 bytes).
So every character counts, new hashes are bcrypt over a fixed-length pre-hash: the 44 ASCII
characters of base64(HMAC-SHA256(``PREHASH_KEY``, password as UTF-8)) — no NUL, well under 72
bytes. ``PREHASH_KEY`` is a fixed, public domain-separation constant, not a secret: it must
never change (every stored hash depends on it) and is deliberately not JWT_SECRET, whose
rotation must not break passwords. The stored hash is ``PREHASH_MARKER`` followed by the
60-character bcrypt string (74 characters; ``users.password_hash`` holds 100), so verification
knows which scheme made it.

An unmarked hash is a legacy one, bcrypt over the raw UTF-8 bytes (the API then refused
passwords over 72 bytes): it still verifies exactly as before, so a password over 72 bytes never
matches it, even when its first 72 bytes do.

At most ``BCRYPT_CONCURRENCY`` hashes run at once per process (default: the cores it may run
on). bcrypt releases the GIL, so without a bound every request thread hashes at once and they
fight over the cores with the event loop and each other. One slot per core, not a share of the
cores per worker: connections are not spread evenly over the workers, and two logins on one
worker should still use two cores. On the 2-core benchmark machine (2 workers), 16 concurrent
logins made 22.1-22.2/s at 87 ms of API CPU each unbounded, 24.0-24.8/s at 78-81 ms with this
bound (two paired runs).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import threading

import bcrypt

from core.config import get_settings

PREHASH_KEY = b"cairn/password-prehash/hmac-sha256/v1"
PREHASH_MARKER = "$cairn-sha256$"

_LEGACY_MAX_BYTES = 72  # bcrypt's limit; legacy (unmarked) hashes are over the raw bytes


@functools.cache
def _slots(count: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(count)


def _bcrypt_slot() -> threading.BoundedSemaphore:
    return _slots(get_settings().bcrypt_concurrency)


def _prehash(password: str) -> bytes:
    """44 ASCII bytes that depend on every character of the password."""
    digest = hmac.new(PREHASH_KEY, password.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest)


def _hash_at(password: str, rounds: int) -> str:
    salt = bcrypt.gensalt(rounds)
    candidate = _prehash(password)
    with _bcrypt_slot():
        return PREHASH_MARKER + bcrypt.hashpw(candidate, salt).decode("ascii")


def hash_password(password: str) -> str:
    """``PREHASH_MARKER`` + bcrypt over the pre-hash, at the configured cost."""
    return _hash_at(password, get_settings().bcrypt_rounds)


def verify_password(password: str, password_hash: str) -> bool:
    """Exact for both schemes, and one bcrypt check whatever the input.

    A marked hash is checked against the pre-hash. An unmarked (legacy) one against the raw
    bytes: a password over 72 bytes is checked against its prefix (so the work is the same) and fails.
    """
    if password_hash.startswith(PREHASH_MARKER):
        candidate = _prehash(password)
        with _bcrypt_slot():
            return bcrypt.checkpw(candidate, password_hash[len(PREHASH_MARKER) :].encode("ascii"))
    raw = password.encode("utf-8")
    with _bcrypt_slot():
        matches = bcrypt.checkpw(raw[:_LEGACY_MAX_BYTES], password_hash.encode("ascii"))
    return matches and len(raw) <= _LEGACY_MAX_BYTES


def dummy_hash() -> str:
    """A real hash (current scheme, configured cost), to check against when the email is unknown (same timing)."""
    return _dummy_hash_at(get_settings().bcrypt_rounds)


@functools.cache
def _dummy_hash_at(rounds: int) -> str:
    return _hash_at("not-a-real-password-0", rounds)
