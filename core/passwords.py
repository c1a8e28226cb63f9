"""Password hashing with bcrypt (cost from BCRYPT_ROUNDS, 10 in production).

bcrypt only reads 72 bytes and bcrypt 5 raises past that; the API refuses such
passwords at registration (400), and a login with one simply fails.

At most ``BCRYPT_CONCURRENCY`` hashes run at once per process (default: the cores it may run
on). bcrypt releases the GIL, so without a bound every request thread hashes at once and they
fight over the cores with the event loop and each other. One slot per core, not a share of the
cores per worker: connections are not spread evenly over the workers, and two logins on one
worker should still use two cores. On the 2-core benchmark machine (2 workers), 16 concurrent
logins made 22.1-22.2/s at 87 ms of API CPU each unbounded, 24.0-24.8/s at 78-81 ms with this
bound (two paired runs).
"""

from __future__ import annotations

import functools
import threading

import bcrypt

from core.config import get_settings

MAX_PASSWORD_BYTES = 72


def too_long(password: str) -> bool:
    return len(password.encode("utf-8")) > MAX_PASSWORD_BYTES


@functools.cache
def _slots(count: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(count)


def _bcrypt_slot() -> threading.BoundedSemaphore:
    return _slots(get_settings().bcrypt_concurrency)


def hash_password(password: str) -> str:
    salt = bcrypt.gensalt(get_settings().bcrypt_rounds)
    with _bcrypt_slot():
        return bcrypt.hashpw(password.encode("utf-8"), salt).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """Constant work whatever the input: a too-long password is checked against its prefix and fails."""
    candidate = password.encode("utf-8")
    with _bcrypt_slot():
        matches = bcrypt.checkpw(candidate[:MAX_PASSWORD_BYTES], password_hash.encode("ascii"))
    return matches and len(candidate) <= MAX_PASSWORD_BYTES


def dummy_hash() -> str:
    """A real hash at the configured cost, to check against when the email is unknown (same timing)."""
    return _dummy_hash_at(get_settings().bcrypt_rounds)


@functools.cache
def _dummy_hash_at(rounds: int) -> str:
    salt = bcrypt.gensalt(rounds)
    with _bcrypt_slot():
        return bcrypt.hashpw(b"not-a-real-password-0", salt).decode("ascii")
