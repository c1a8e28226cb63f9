"""Passwords, tokens and Authorization headers never reach the logs.

A whole account's life goes through the HTTP API with logging at DEBUG (the way
``configure_logging`` sets it up, tasks running inline): register, verify, a failed and a good
login, authenticated calls, refresh and token reuse, password change, reset, logout, forged
tokens. Every emitted line is captured as written (JSON) and searched for each secret.
"""

from __future__ import annotations

import io
import json
import logging

import pytest

from core.logs import JsonFormatter, configure_logging

API = "/api/v1"
EMAIL = "secret.keeper@example.com"
PASSWORDS = {
    "first": "Granite-Path-42",
    "wrong": "Wr0ng-Guess-99",
    "changed": "Basalt-Ridge-77",
    "reset": "Scree-Slope-31",
}


@pytest.fixture
def emitted(settings):
    """Every log line written while the test runs, at DEBUG, formatted as in production."""
    stream = io.StringIO()
    configure_logging("DEBUG")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    yield stream
    configure_logging(settings.log_level)


def post(client, path: str, body: dict | None = None, token: str | None = None, status: int | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post(f"{API}{path}", json=body, headers=headers)
    if status is not None:
        assert response.status_code == status, (path, response.text)
    return response


def tokens_of(response) -> dict:
    return response.json()["tokens"]


def test_no_secret_is_ever_logged(client, mailbox, emitted, settings, clock):
    clock.advance(seconds=-30)  # room to step past the reuse grace without issuing tokens in the future
    secrets: dict[str, str] = {f"password {k}": v for k, v in PASSWORDS.items()} | {"JWT secret": settings.jwt_secret}

    def keep(label: str, tokens: dict) -> dict:
        secrets[f"{label} access token"] = tokens["accessToken"]
        secrets[f"{label} access signature"] = tokens["accessToken"].rsplit(".", 1)[1]
        secrets[f"{label} refresh token"] = tokens["refreshToken"]
        return tokens

    body = {"email": EMAIL, "password": PASSWORDS["first"], "name": "Sam Keeper"}
    registered = keep("register", tokens_of(post(client, "/auth/register", body, status=201)))
    secrets["cookie"] = client.cookies.get("cairn_refresh")
    client.cookies.clear()
    secrets["verification token"] = mailbox.token(EMAIL, "verify-email")
    post(client, "/auth/verify-email", {"token": secrets["verification token"]}, status=200)

    post(client, "/auth/login", {"email": EMAIL, "password": PASSWORDS["wrong"]}, status=401)
    session = keep("login", tokens_of(post(client, "/auth/login", {"email": EMAIL, "password": PASSWORDS["first"]})))
    bearer = f"Bearer {session['accessToken']}"
    secrets["Authorization header"] = bearer
    assert client.get(f"{API}/users/me", headers={"Authorization": bearer}).status_code == 200
    assert client.get(f"{API}/projects", headers={"Authorization": bearer}).status_code == 200

    refreshed = post(client, "/auth/refresh", {"refreshToken": session["refreshToken"]}, status=200)
    rotated = keep("refresh", tokens_of(refreshed))
    clock.advance(seconds=11)  # past the reuse grace
    post(client, "/auth/refresh", {"refreshToken": session["refreshToken"]}, status=401)  # reuse: session revoked
    change = {"currentPassword": PASSWORDS["first"], "newPassword": PASSWORDS["changed"]}
    post(client, "/users/me/password", change, token=registered["accessToken"], status=204)
    post(client, "/auth/forgot-password", {"email": EMAIL}, status=202)
    secrets["reset token"] = mailbox.token(EMAIL, "reset-password")
    post(client, "/auth/reset-password", {"token": secrets["reset token"], "password": PASSWORDS["reset"]}, status=204)
    last = keep("last", tokens_of(post(client, "/auth/login", {"email": EMAIL, "password": PASSWORDS["reset"]})))
    post(client, "/auth/logout", token=last["accessToken"], status=204)
    post(client, "/auth/logout", token=last["accessToken"], status=401)  # a revoked token, presented again
    post(client, "/auth/logout", token=rotated["accessToken"][:-6] + "forged", status=401)

    lines = emitted.getvalue().splitlines()
    records = [json.loads(line) for line in lines]
    # access lines are INFO: seeing them proves the capture ran below the suite's usual WARNING
    paths = {record.get("path") for record in records if record.get("logger") == "cairn.access"}
    assert {f"{API}/auth/login", f"{API}/auth/refresh", f"{API}/users/me", f"{API}/auth/logout"} <= paths
    leaked = {label: line for label, value in secrets.items() for line in lines if value and value in line}
    assert not leaked, leaked


def test_secret_looking_values_in_messages_are_redacted(emitted):
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl"
    log = logging.getLogger("cairn.test")
    log.warning("calling with Authorization: Bearer %s", token)
    log.warning("bad login {'password': 'Hunter-22x', 'refreshToken': 'opaque-123'}")
    log.error("config: JWT_SECRET=shh-very-secret token=abc.def")
    log.info("request", extra={"authorization": "Bearer opaque-456", "body": {"password": "Hunter-33y"}})
    written = emitted.getvalue()
    for secret in (token, "Hunter-22x", "opaque-123", "shh-very-secret", "abc.def", "opaque-456", "Hunter-33y"):
        assert secret not in written
    assert written.count("[REDACTED]") >= 6
    assert all(json.loads(line)["logger"] == "cairn.test" for line in written.splitlines())  # still JSON
