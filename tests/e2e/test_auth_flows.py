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
from models import OutboxMessage, db
from store.database import init_db

pytestmark = [pytest.mark.e2e, pytest.mark.redis_only]

PASSWORD = "Granite-Path-42"
NEW_PASSWORD = "Basalt-Ridge-77"
BASE_URL = "http://app.test"  # APP_BASE_URL in tests/conftest.py's test_environ


@pytest.fixture(scope="module")
def database(backend: str) -> str:
    """The test process reads the same database as the API and the worker (to see the outbox settle)."""
    init_db(backend)
    return backend


@pytest.fixture
def api(api_server: str, celery_worker, database: str) -> Iterator[httpx.Client]:
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


# Email change ----------------------------------------------------------------------------------


def emails_settled(user_id: str) -> bool:
    """Every email the account's requests queued has been sent (its outbox row is done)."""
    with db.connection_context():
        rows = OutboxMessage.select().where(
            (OutboxMessage.task == "tasks.emails.send_email") & OutboxMessage.payload.contains(user_id)
        )
        return all(row.state == "done" for row in rows)


def subjects(smtp_sink: SmtpSink, to: str) -> list[str]:
    return sorted(message["Subject"].removeprefix("Cairn: ") for message in smtp_sink.messages(to))


def change_and_confirm(api: httpx.Client, smtp_sink: SmtpSink, tokens: dict, new: str) -> None:
    body = {"newEmail": new, "currentPassword": PASSWORD}
    assert api.post("/users/me/email", json=body, headers=bearer(tokens)).status_code == 202
    token = link_token(smtp_sink.wait_for_subject(new, "Confirm your new email"), BASE_URL, "confirm-email-change")
    confirmed = api.post("/auth/confirm-email-change", json={"token": token})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["email"] == new


def test_change_then_confirm_then_only_the_new_address_logs_in(api: httpx.Client, smtp_sink: SmtpSink):
    old, new = new_email(), new_email()
    account = register(api, old)
    asking = account["tokens"]
    other = api.post("/auth/login", json={"email": old, "password": PASSWORD}).json()["tokens"]

    change_and_confirm(api, smtp_sink, asking, new)

    assert api.get("/users/me", headers=bearer(asking)).json()["email"] == new
    assert api.get("/users/me", headers=bearer(other)).status_code == 401
    refused = api.post("/auth/login", json={"email": old, "password": PASSWORD})
    assert refused.json()["error"]["code"] == "INVALID_CREDENTIALS"
    assert api.post("/auth/login", json={"email": new, "password": PASSWORD}).status_code == 200

    smtp_sink.wait_for_subject(new, "Your email address was changed")
    wait_until(lambda: emails_settled(account["user"]["id"]), what="every email of the account sent")
    assert subjects(smtp_sink, old) == ["Confirm your email address", "Your email address is being changed"]
    assert subjects(smtp_sink, new) == ["Confirm your new email address", "Your email address was changed"]
    notice = smtp_sink.wait_for_subject(old, "Your email address is being changed")
    assert new in notice.get_body(("plain",)).get_content()


def test_change_confirm_then_revert_from_the_old_mailbox_ends_every_session(api: httpx.Client, smtp_sink: SmtpSink):
    old, new = new_email(), new_email()
    account = register(api, old)
    asking = account["tokens"]
    change_and_confirm(api, smtp_sink, asking, new)
    later = api.post("/auth/login", json={"email": new, "password": PASSWORD}).json()["tokens"]

    notice = smtp_sink.wait_for_subject(old, "Your email address is being changed")
    assert new in notice.get_body(("plain",)).get_content()
    reverted = api.post(
        "/auth/revert-email-change", json={"token": link_token(notice, BASE_URL, "revert-email-change")}
    )
    assert reverted.status_code == 200, reverted.text
    assert reverted.json()["email"] == old

    for tokens in (asking, later):
        assert api.get("/users/me", headers=bearer(tokens)).status_code == 401
        assert api.post("/auth/refresh", json={"refreshToken": tokens["refreshToken"]}).status_code == 401
    assert api.post("/auth/login", json={"email": new, "password": PASSWORD}).status_code == 401
    assert api.post("/auth/login", json={"email": old, "password": PASSWORD}).status_code == 200

    suggestion = smtp_sink.wait_for_subject(old, "Your email address was put back")
    reset = {"token": link_token(suggestion, BASE_URL, "reset-password"), "password": NEW_PASSWORD}
    assert api.post("/auth/reset-password", json=reset).status_code == 204
    smtp_sink.wait_for_subject(old, "Your password was changed")
    wait_until(lambda: emails_settled(account["user"]["id"]), what="every email of the account sent")
    assert subjects(smtp_sink, old) == [
        "Confirm your email address",
        "Your email address is being changed",
        "Your email address was put back",
        "Your password was changed",
    ]
    assert subjects(smtp_sink, new) == ["Confirm your new email address", "Your email address was changed"]


def test_a_password_change_notice_arrives_once(api: httpx.Client, smtp_sink: SmtpSink):
    email = new_email()
    account = register(api, email)
    body = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    assert api.post("/users/me/password", json=body, headers=bearer(account["tokens"])).status_code == 204
    notice = smtp_sink.wait_for_subject(email, "Your password was changed")
    assert "UTC" in notice.get_body(("plain",)).get_content()
    wait_until(lambda: emails_settled(account["user"]["id"]), what="every email of the account sent")
    assert subjects(smtp_sink, email) == ["Confirm your email address", "Your password was changed"]


def admin_tokens(api: httpx.Client) -> dict:
    """An admin of the running server (``make admin``'s use case, on the shared database)."""
    from services.accounts import create_or_promote_admin

    email = new_email()
    with db.connection_context():
        create_or_promote_admin(email, PASSWORD)
    response = api.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["tokens"]


def test_disable_ends_a_live_session_within_one_request_and_forgot_password_sends_nothing(
    api: httpx.Client, smtp_sink: SmtpSink
):
    email = new_email()
    account = register(api, email)
    user_id, tokens = account["user"]["id"], account["tokens"]
    assert api.get("/users/me", headers=bearer(tokens)).status_code == 200
    smtp_sink.wait_for(email)  # the verification email, before the disable

    disabled = api.post(f"/admin/users/{user_id}/disable", headers=bearer(admin_tokens(api)))

    assert disabled.status_code == 200, disabled.text
    assert api.get("/users/me", headers=bearer(tokens)).status_code == 401
    assert api.post("/auth/refresh", json={"refreshToken": tokens["refreshToken"]}).status_code == 401
    login = api.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert (login.status_code, login.json()["error"]["code"]) == (403, "ACCOUNT_DISABLED")
    assert api.post("/auth/forgot-password", json={"email": email}).status_code == 202
    wait_until(lambda: emails_settled(user_id), what="every email of the account handled")
    assert subjects(smtp_sink, email) == ["Confirm your email address"]


def test_unlock_lifts_a_lockout(api: httpx.Client):
    email = new_email()
    user_id = register(api, email)["user"]["id"]
    for _ in range(5):
        api.post("/auth/login", json={"email": email, "password": "Wrong-Password-1"})
    assert api.post("/auth/login", json={"email": email, "password": PASSWORD}).status_code == 423

    unlocked = api.post(f"/admin/users/{user_id}/unlock", headers=bearer(admin_tokens(api)))

    assert unlocked.status_code == 200, unlocked.text
    assert api.post("/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200
