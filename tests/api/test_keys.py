"""Asymmetric signing keys and the JWKS (issue 26): ES256/EdDSA tokens with a ``kid``, rotation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from core.tokens import AUDIENCE, ISSUER, issue_access_token

JWKS = "/.well-known/jwks.json"


def write_key(folder: Path, name: str, kind: str = "ec") -> str:
    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = folder / f"{name}.pem"
    path.write_bytes(pem)
    return str(path)


@pytest.fixture
def configure(reconfigure, tmp_path) -> Callable[..., None]:
    """Switch JWT_SIGNING_KEYS for the rest of the test: ``configure(("k1", "ec"), ("k0", "ed"))``."""
    paths: dict[str, str] = {}

    def switch(*keys: tuple[str, str]) -> None:
        for kid, kind in keys:
            if kid not in paths:
                paths[kid] = write_key(tmp_path, kid, kind)
        reconfigure(jwt_signing_keys=tuple((kid, paths[kid]) for kid, _ in keys))

    return switch


def me(client, token: str) -> int:
    return client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_without_keys_the_set_is_empty_and_tokens_are_hs256(client, accounts):
    response = client.get(JWKS)
    assert response.status_code == 200
    assert response.json() == {"keys": []}
    assert response.headers["cache-control"] == "public, max-age=300"
    user = accounts.create()
    token, _ = accounts.login(user)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


@pytest.mark.parametrize(("kind", "alg"), [("ec", "ES256"), ("ed", "EdDSA")])
def test_a_token_verifies_with_the_key_taken_from_the_jwks(client, accounts, configure, kind, alg):
    configure(("2026-12", kind), ("2026-11", "ec"))
    user = accounts.create()
    token, _ = accounts.login(user)
    assert jwt.get_unverified_header(token) == {"alg": alg, "typ": "JWT", "kid": "2026-12"}
    keys = client.get(JWKS).json()
    assert [key["kid"] for key in keys["keys"]] == ["2026-12", "2026-11"]
    assert all("d" not in key for key in keys["keys"])  # never a private part
    public = jwt.PyJWKSet.from_dict(keys)["2026-12"]
    claims = jwt.decode(token, public.key, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER)
    assert claims["sub"] == str(user.id)
    assert me(client, token) == 200


def test_rotation_keeps_old_tokens_valid_until_their_key_is_dropped(client, accounts, configure):
    user = accounts.create()
    configure(("old", "ec"))
    old_token, _ = accounts.login(user)
    configure(("new", "ec"), ("old", "ec"))  # step 1: the new key first, the old one still listed
    new_token, _ = accounts.login(user)
    assert jwt.get_unverified_header(new_token)["kid"] == "new"
    assert (me(client, old_token), me(client, new_token)) == (200, 200)
    configure(("new", "ec"))  # step 2: the old key dropped once its tokens have expired
    assert (me(client, old_token), me(client, new_token)) == (401, 200)


def test_with_keys_an_hs256_token_or_an_unknown_kid_is_refused(client, accounts, configure, settings):
    user = accounts.create()
    hs256, session_id = accounts.login(user)
    configure(("k1", "ec"))
    assert me(client, hs256) == 401
    forged = jwt.encode(
        jwt.decode(hs256, options={"verify_signature": False}), settings.jwt_secret, headers={"kid": "k1"}
    )
    assert me(client, forged) == 401  # HS256 with a configured kid: the algorithm comes from the key
    assert me(client, issue_access_token(str(user.id), session_id)) == 200
