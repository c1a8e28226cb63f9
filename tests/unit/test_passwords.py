"""Unit tests for the password hashing: bcrypt over an HMAC-SHA256 pre-hash, marked; legacy hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac

import bcrypt
import pytest

from core import config
from core.config import load_settings
from core.passwords import PREHASH_MARKER, dummy_hash, hash_password, verify_password


@pytest.fixture(autouse=True)
def _fast_rounds(monkeypatch):
    monkeypatch.setattr(config, "_current", load_settings({"APP_ENV": "test", "BCRYPT_ROUNDS": "4"}))


def legacy_hash(password: str) -> str:
    """What hash_password stored before the pre-hash: bcrypt over the raw UTF-8 bytes, unmarked."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(4)).decode("ascii")


def test_hash_then_verify():
    hashed = hash_password("Granite-Path-42")
    assert hashed.startswith(PREHASH_MARKER + "$2b$04$")
    assert verify_password("Granite-Path-42", hashed)
    assert not verify_password("granite-path-42", hashed)


def test_a_marked_hash_fits_the_password_hash_column():
    """``users.password_hash`` is VARCHAR(100): the marker and bcrypt's 60 characters fit."""
    assert len(hash_password("A1" + "😀" * 126)) == len(PREHASH_MARKER) + 60 <= 100


def test_each_hash_is_salted():
    assert hash_password("Granite-Path-42") != hash_password("Granite-Path-42")


def test_cost_comes_from_the_settings():
    config.use_settings(load_settings({"APP_ENV": "test", "BCRYPT_ROUNDS": "5"}))
    assert hash_password("Granite-Path-42").startswith(PREHASH_MARKER + "$2b$05$")


def test_the_pre_hash_is_hmac_sha256_under_the_documented_fixed_key():
    """Pinned: every stored hash depends on this key, so changing it would lock every user out."""
    password = "Granite-Path-42-é"
    hashed = hash_password(password)
    pre_hash = base64.b64encode(
        hmac.new(b"cairn/password-prehash/hmac-sha256/v1", password.encode("utf-8"), hashlib.sha256).digest()
    )
    assert bcrypt.checkpw(pre_hash, hashed.removeprefix(PREHASH_MARKER).encode("ascii"))


def test_rotating_jwt_secret_does_not_touch_passwords():
    hashed = hash_password("Granite-Path-42")
    config.use_settings(load_settings({"APP_ENV": "test", "BCRYPT_ROUNDS": "4", "JWT_SECRET": "another-" * 8}))
    assert verify_password("Granite-Path-42", hashed)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("A1" + "a" * 70 + "x", "A1" + "a" * 70 + "y"),  # ASCII: same first 72 bytes
        ("é" * 36 + "A1x", "é" * 36 + "A1y"),  # 36 characters are 72 bytes
        ("A1" + "😀" * 126, "A1" + "😀" * 125 + "😁"),  # 128 characters, 506 bytes
    ],
    ids=["ascii", "accented", "emoji"],
)
def test_passwords_sharing_the_first_72_bytes_are_not_equal(first, second):
    assert first.encode("utf-8")[:72] == second.encode("utf-8")[:72]
    hashed = hash_password(first)
    assert verify_password(first, hashed)
    assert not verify_password(second, hashed)
    assert not verify_password(first[:-1], hashed)
    assert not verify_password(first + "x", hashed)


def test_bcrypt_itself_refuses_long_passwords():
    """Why the pre-hash exists: bcrypt 5 raises past 72 bytes instead of reading them."""
    with pytest.raises(ValueError, match="72"):
        bcrypt.hashpw(b"a" * 73, bcrypt.gensalt(4))


def test_a_legacy_unmarked_hash_still_verifies_exactly():
    for password in ("Granite-Path-42", "Éloïse-Über-7"):
        hashed = legacy_hash(password)
        assert verify_password(password, hashed)
        assert not verify_password(password[:-1] + "8", hashed)
        assert not verify_password(password + "!", hashed)


def test_a_password_over_72_bytes_never_matches_a_legacy_hash_even_with_the_same_first_72():
    hashed = legacy_hash("a" * 72)
    assert verify_password("a" * 72, hashed)
    assert verify_password("a" * 100, hashed) is False


def test_the_marker_decides_the_scheme():
    """The bcrypt string of a marked hash is over the pre-hash, not the password: read as legacy it fails."""
    hashed = hash_password("Granite-Path-42")
    assert not verify_password("Granite-Path-42", hashed.removeprefix(PREHASH_MARKER))
    assert not verify_password("Granite-Path-42", PREHASH_MARKER + legacy_hash("Granite-Path-42"))


def test_dummy_hash_is_a_real_hash_at_the_configured_cost_and_matches_nothing_typed():
    hashed = dummy_hash()
    assert hashed.startswith(PREHASH_MARKER + "$2b$04$")
    assert hashed == dummy_hash()  # computed once
    assert not verify_password("Granite-Path-42", hashed)
