"""End to end: the API under uvicorn, a Celery worker, a private Redis and an SMTP server, all real.

The emails travel request → outbox → Redis → worker → SMTP, and the links in them are used
through the HTTP API like a front end would.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from mailtools import link_token

from e2e.conftest import SmtpSink, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.redis_only]

PASSWORD = "Granite-Path-42"
NEW_PASSWORD = "Basalt-Ridge-77"
BASE_URL = "http://app.test"  # APP_BASE_URL in tests/conftest.py's test_environ


@pytest.fixture
def api(api_server: str, celery_worker) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{api_server}/api/v1", timeout=10) as client:
        yield client


def new_email() -> str:
    return f"e2e-{uuid.uuid4().hex[:12]}@example.com"


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['accessToken']}"}


def register(api: httpx.Client, email: str) -> dict:
    response = api.post("/auth/register", json={"email": email, "password": PASSWORD, "name": "Eve Tester"})
    assert response.status_code == 201, response.text
    return response.json()


def test_register_then_the_emailed_link_verifies_once(api: httpx.Client, smtp_sink: SmtpSink):
    email = new_email()
    tokens = register(api, email)["tokens"]

    [message] = smtp_sink.wait_for(email)
    assert re.fullmatch(r"<[0-9a-f-]{36}@cairn\.local>", message["Message-ID"])
    assert "Confirm" in message["Subject"]
    assert message.get_content_type() == "multipart/alternative"
    token = link_token(message, BASE_URL, "verify-email")

    verified = api.post("/auth/verify-email", json={"token": token})
    assert verified.status_code == 200, verified.text
    assert verified.json()["emailVerified"] is True
    assert api.get("/users/me", headers=bearer(tokens)).json()["emailVerified"] is True
    again = api.post("/auth/verify-email", json={"token": token})
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "INVALID_TOKEN"


def test_forgot_then_reset_ends_every_old_session(api: httpx.Client, smtp_sink: SmtpSink):
    email = new_email()
    first = register(api, email)["tokens"]
    login = api.post("/auth/login", json={"email": email, "password": PASSWORD})
    second = login.json()["tokens"]

    assert api.post("/auth/forgot-password", json={"email": email.upper()}).status_code == 202
    reset_email = smtp_sink.wait_for_subject(email, "Reset your password")
    token = link_token(reset_email, BASE_URL, "reset-password")
    response = api.post("/auth/reset-password", json={"token": token, "password": NEW_PASSWORD})
    assert response.status_code == 204, response.text

    for tokens in (first, second):
        assert api.get("/users/me", headers=bearer(tokens)).status_code == 401
        assert api.post("/auth/refresh", json={"refreshToken": tokens["refreshToken"]}).status_code == 401
    old = api.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert old.json()["error"]["code"] == "INVALID_CREDENTIALS"
    new = api.post("/auth/login", json={"email": email, "password": NEW_PASSWORD})
    assert new.status_code == 200, new.text
    assert api.get("/users/me", headers=bearer(new.json()["tokens"])).status_code == 200

    smtp_sink.wait_for_subject(email, "Your password was changed")
    reused = api.post("/auth/reset-password", json={"token": token, "password": "Third-Pass-3"})
    assert reused.json()["error"]["code"] == "INVALID_TOKEN"


def test_the_worker_writes_the_audit_trail(api: httpx.Client):
    email = new_email()
    tokens = register(api, email)["tokens"]

    def events() -> list[str]:
        page = api.get("/users/me/audit-logs", headers=bearer(tokens)).json()
        return [event["action"] for event in page["data"]]

    assert wait_until(lambda: "user.registered" in events(), what="the user.registered audit row")
