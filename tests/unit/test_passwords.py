"""Unit tests for the bcrypt helpers."""

from __future__ import annotations

import bcrypt
import pytest

from core import config
from core.config import load_settings
from core.passwords import MAX_PASSWORD_BYTES, dummy_hash, hash_password, too_long, verify_password


@pytest.fixture(autouse=True)
def _fast_rounds(monkeypatch):
    monkeypatch.setattr(config, "_current", load_settings({"APP_ENV": "test", "BCRYPT_ROUNDS": "4"}))


def test_hash_then_verify():
    hashed = hash_password("Granite-Path-42")
    assert hashed.startswith("$2b$04$")
    assert verify_password("Granite-Path-42", hashed)
    assert not verify_password("granite-path-42", hashed)


def test_each_hash_is_salted():
    assert hash_password("Granite-Path-42") != hash_password("Granite-Path-42")


def test_cost_comes_from_the_settings():
    config.use_settings(load_settings({"APP_ENV": "test", "BCRYPT_ROUNDS": "5"}))
    assert hash_password("Granite-Path-42").startswith("$2b$05$")


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("a" * 72, False),
        ("a" * 73, True),
        ("é" * 36, False),  # 72 bytes
        ("é" * 37, True),  # 37 characters, 74 bytes
        ("😀" * 18, False),  # 72 bytes
        ("😀" * 19, True),
    ],
)
def test_the_limit_is_72_utf8_bytes_not_characters(password, expected):
    assert too_long(password) is expected


def test_bcrypt_itself_refuses_long_passwords():
    """Why the limit exists: bcrypt 5 raises instead of truncating."""
    with pytest.raises(ValueError, match="72"):
        bcrypt.hashpw(b"a" * (MAX_PASSWORD_BYTES + 1), bcrypt.gensalt(4))


def test_verifying_an_overlong_password_fails_instead_of_raising():
    hashed = hash_password("a" * 72)
    assert verify_password("a" * 100, hashed) is False


def test_dummy_hash_is_a_real_hash_at_the_configured_cost_and_matches_nothing_typed():
    hashed = dummy_hash()
    assert hashed.startswith("$2b$")
    assert hashed == dummy_hash()  # computed once
    assert not verify_password("Granite-Path-42", hashed)
