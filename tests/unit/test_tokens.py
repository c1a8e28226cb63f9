"""Unit tests for the token helpers: access JWTs, opaque tokens and one-time link tokens."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from core import config
from core.config import load_settings
from core.tokens import (
    ACCESS_TOKEN_TTL,
    AUDIENCE,
    ISSUER,
    TokenExpired,
    TokenInvalid,
    decode_access_token,
    hash_token,
    issue_access_token,
    new_opaque_token,
)
from services import one_time_tokens

SECRET = "unit-test-secret-that-is-at-least-32-bytes"


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setattr(config, "_current", load_settings({"APP_ENV": "test", "JWT_SECRET": SECRET}))


def _claims(**overrides) -> dict:
    now = datetime.now(UTC)
    claims = {
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "jti": uuid.uuid4().hex,
        "iat": int(now.timestamp()),
        "exp": int((now + ACCESS_TOKEN_TTL).timestamp()),
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_issued_token_round_trips_with_every_claim():
    token = issue_access_token("user-1", "session-1")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
    assert set(claims) == {"sub", "sid", "jti", "iat", "exp", "iss", "aud"}
    assert claims["exp"] - claims["iat"] == 15 * 60
    decoded = decode_access_token(token)
    assert (decoded.user_id, decoded.session_id) == ("user-1", "session-1")


def test_each_token_has_its_own_jti():
    first, second = (decode_access_token(issue_access_token("u", "s")).token_id for _ in range(2))
    assert first != second


def test_expired_token_is_told_apart():
    token = issue_access_token("u", "s", now=datetime.now(UTC) - ACCESS_TOKEN_TTL - timedelta(seconds=5))
    with pytest.raises(TokenExpired):
        decode_access_token(token)


def test_a_token_checked_once_still_expires_on_time(monkeypatch):
    """The checks made once per token leave the expiry to every use."""
    token = issue_access_token("u", "s")
    assert decode_access_token(token).user_id == "u"
    expires_at = jwt.decode(token, options={"verify_signature": False})["exp"]
    monkeypatch.setattr("core.tokens.time.time", lambda: expires_at - 1)
    assert decode_access_token(token).user_id == "u"
    monkeypatch.setattr("core.tokens.time.time", lambda: expires_at)
    with pytest.raises(TokenExpired):
        decode_access_token(token)


def test_a_token_checked_under_one_secret_fails_under_the_next(monkeypatch):
    token = issue_access_token("u", "s")
    assert decode_access_token(token).user_id == "u"
    rotated = load_settings({"APP_ENV": "test", "JWT_SECRET": "a-rotated-secret-of-at-least-32-bytes"})
    monkeypatch.setattr(config, "_current", rotated)
    with pytest.raises(TokenInvalid):
        decode_access_token(token)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize(
    ("name", "token"),
    [
        ("wrong secret", lambda: jwt.encode(_claims(), "another-secret-of-at-least-32-bytes!!", algorithm="HS256")),
        ("wrong audience", lambda: jwt.encode(_claims(aud="someone-else"), SECRET, algorithm="HS256")),
        ("wrong issuer", lambda: jwt.encode(_claims(iss="evil"), SECRET, algorithm="HS256")),
        ("missing sid", lambda: jwt.encode(_claims(sid=None), SECRET, algorithm="HS256")),
        ("missing exp", lambda: jwt.encode(_claims(exp=None), SECRET, algorithm="HS256")),
        ("exp not a time", lambda: jwt.encode(_claims(exp="soon"), SECRET, algorithm="HS256")),
        ("empty sub", lambda: jwt.encode(_claims(sub=""), SECRET, algorithm="HS256")),
        ("HS512", lambda: jwt.encode(_claims(), SECRET, algorithm="HS512")),
        ("alg none", lambda: f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}."),
        ("garbage", lambda: "not.a.jwt"),
    ],
)
def test_bad_tokens_are_invalid(name, token):
    with pytest.raises(TokenInvalid):
        decode_access_token(token())


def test_tampered_payload_fails_the_signature():
    header, _payload, signature = issue_access_token("u", "s").split(".")
    forged = f"{header}.{_b64(_claims(sub='admin'))}.{signature}"
    with pytest.raises(TokenInvalid):
        decode_access_token(forged)


def test_opaque_tokens_are_random_and_url_safe():
    tokens = {new_opaque_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(
        len(token) >= 43 and set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for token in tokens
    )


def test_hash_token_is_sha256_hex_and_stable():
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert hash_token("abc") != hash_token("abd")


def test_one_time_token_is_derived_from_the_outbox_id_and_the_secret():
    outbox_id = uuid.uuid4()
    token = one_time_tokens.derive(outbox_id)
    assert token == one_time_tokens.derive(str(outbox_id)) == one_time_tokens.derive(outbox_id.hex)
    assert token != one_time_tokens.derive(uuid.uuid4())
    assert len(token) == 43
    assert "=" not in token
    config.use_settings(load_settings({"APP_ENV": "test", "JWT_SECRET": "a-different-secret-at-least-32-bytes"}))
    assert one_time_tokens.derive(outbox_id) != token
