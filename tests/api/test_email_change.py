"""Changing the email address: ``POST /users/me/email``, then ``/auth/confirm-email-change`` from
the new mailbox or ``/auth/revert-email-change`` from the old one; and the security notices.

Tasks run inline, so each request's emails are in ``mailbox`` when it returns.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

from mailtools import bodies
from test_auth import (
    API,
    NEW_PASSWORD,
    PASSWORD,
    actions,
    assert_error,
    bearer,
    login,
    me,
    refresh,
    register,
    registered,
)

from models import OneTimeToken, OutboxMessage, Session, User
from services import accounts as accounts_service
from tests.concurrency import at_once

OLD, NEW = "ann@example.com", "ann.lee@example.org"


def change_email(client, tokens, new=NEW, password=PASSWORD):
    return client.post(
        f"{API}/users/me/email", json={"newEmail": new, "currentPassword": password}, headers=bearer(tokens)
    )


def confirm(client, token):
    return client.post(f"{API}/auth/confirm-email-change", json={"token": token})


def revert(client, token):
    return client.post(f"{API}/auth/revert-email-change", json={"token": token})


def subjects(mailbox, to):
    return [message["Subject"] for message in mailbox.messages(to)]


def email_kinds() -> list[str]:
    rows = OutboxMessage.select().where(OutboxMessage.task == "tasks.emails.send_email")
    return sorted(json.loads(row.payload)["kind"] for row in rows)


def changed(client, mailbox, tokens, new=NEW) -> dict:
    """Request and confirm a change; the confirmed user."""
    assert change_email(client, tokens, new).status_code == 202
    response = confirm(client, mailbox.token(new, "confirm-email-change"))
    assert response.status_code == 200, response.text
    return response.json()


# The request -----------------------------------------------------------------------------------


def test_a_request_sends_a_link_to_the_new_address_and_a_notice_to_the_old_and_changes_nothing(client, mailbox):
    tokens = registered(client)["tokens"]
    response = change_email(client, tokens, new="Ann.Lee@Example.ORG")
    assert response.status_code == 202, response.text
    assert "confirmation link" in response.json()["message"]

    assert me(client, tokens).json()["email"] == OLD
    assert email_kinds() == ["confirm_email_change", "revert_email_change", "verify_email"]
    [confirmation] = mailbox.messages(NEW)
    assert "Confirm your new email address" in confirmation["Subject"]
    text, html = bodies(confirmation)
    assert NEW in text
    assert NEW in html
    assert mailbox.token(NEW, "confirm-email-change")
    notice = mailbox.messages(OLD)[-1]
    assert "being changed" in notice["Subject"]
    text, html = bodies(notice)
    assert f"from {OLD} to {NEW}" in text
    assert NEW in html
    assert " UTC" in text  # when
    assert mailbox.token(OLD, "revert-email-change")
    stored = {row.purpose: row for row in OneTimeToken.select()}
    assert stored["confirm_email_change"].email == NEW
    assert stored["confirm_email_change"].expires_at - stored["confirm_email_change"].created_at == timedelta(hours=1)
    assert stored["revert_email_change"].email == OLD
    assert stored["revert_email_change"].expires_at - stored["revert_email_change"].created_at == timedelta(days=7)
    assert "auth.email_change_requested" in actions()
    assert login(client).status_code == 200


def test_a_wrong_current_password_is_a_400_naming_the_field_and_sends_nothing(client, mailbox):
    tokens = registered(client)["tokens"]
    error = assert_error(change_email(client, tokens, password="Wrong-Pass-1"), 400, "VALIDATION_ERROR")
    assert [detail["field"] for detail in error["details"]] == ["body.currentPassword"]
    assert mailbox.messages(NEW) == []
    assert email_kinds() == ["verify_email"]


def test_a_taken_address_or_the_accounts_own_is_409(client, mailbox):
    registered(client, email="bob@example.com")
    tokens = registered(client)["tokens"]
    assert_error(change_email(client, tokens, new="BOB@example.com"), 409, "EMAIL_EXISTS")
    assert_error(change_email(client, tokens, new=OLD), 409, "EMAIL_EXISTS")
    assert email_kinds() == ["verify_email", "verify_email"]


def test_the_request_needs_a_session_and_a_valid_body(client):
    assert_error(
        client.post(f"{API}/users/me/email", json={"newEmail": NEW, "currentPassword": PASSWORD}), 401, "UNAUTHORIZED"
    )
    tokens = registered(client)["tokens"]
    for body in (
        {"newEmail": NEW},
        {"newEmail": "not-an-email", "currentPassword": PASSWORD},
        {"newEmail": NEW, "currentPassword": PASSWORD, "x": 1},
    ):
        assert_error(client.post(f"{API}/users/me/email", json=body, headers=bearer(tokens)), 400, "VALIDATION_ERROR")


# Confirmation ----------------------------------------------------------------------------------


def test_confirming_moves_and_verifies_the_address_and_ends_every_other_session(client, mailbox):
    asking = registered(client)["tokens"]
    other = login(client).json()["tokens"]
    user = changed(client, mailbox, asking)
    assert user["email"] == NEW
    assert user["emailVerified"] is True

    assert me(client, asking).json()["email"] == NEW
    assert refresh(client, asking["refreshToken"]).status_code == 200
    assert_error(me(client, other), 401, "UNAUTHORIZED")
    assert_error(refresh(client, other["refreshToken"]), 401, "UNAUTHORIZED")
    assert_error(login(client), 401, "INVALID_CREDENTIALS")
    assert login(client, email=NEW).status_code == 200
    assert "auth.email_changed" in actions()


def test_confirming_sends_one_notice_to_the_new_address(client, mailbox):
    changed(client, mailbox, registered(client)["tokens"])
    notices = [m for m in mailbox.messages(NEW) if "email address was changed" in m["Subject"]]
    assert len(notices) == 1
    text, html = bodies(notices[0])
    assert f"from {OLD} to {NEW}" in text
    assert " UTC" in text
    assert "If this was not you" in text
    assert OLD in html
    assert email_kinds().count("email_changed") == 1


def test_a_confirmation_link_works_once(client, mailbox):
    tokens = registered(client)["tokens"]
    change_email(client, tokens)
    token = mailbox.token(NEW, "confirm-email-change")
    assert confirm(client, token).status_code == 200
    assert_error(confirm(client, token), 400, "INVALID_TOKEN")


def test_a_confirmation_link_expires_after_one_hour(client, mailbox, clock):
    tokens = registered(client)["tokens"]
    change_email(client, tokens)
    token = mailbox.token(NEW, "confirm-email-change")
    clock.advance(hours=1, seconds=1)
    assert_error(confirm(client, token), 400, "INVALID_TOKEN")
    assert User.get().email == OLD


def test_a_second_request_replaces_the_first(client, mailbox):
    tokens = registered(client)["tokens"]
    change_email(client, tokens)
    first = mailbox.token(NEW, "confirm-email-change")
    assert change_email(client, tokens, new="ann@example.net").status_code == 202
    second = mailbox.token("ann@example.net", "confirm-email-change")
    assert_error(confirm(client, first), 400, "INVALID_TOKEN")
    assert confirm(client, second).json()["email"] == "ann@example.net"


def test_an_address_registered_meanwhile_is_409_at_confirmation_and_the_link_is_not_spent(client, mailbox):
    tokens = registered(client)["tokens"]
    change_email(client, tokens)
    token = mailbox.token(NEW, "confirm-email-change")
    squatter = registered(client, email=NEW)["tokens"]
    assert_error(confirm(client, token), 409, "EMAIL_EXISTS")
    assert me(client, tokens).json()["email"] == OLD
    assert client.delete(f"{API}/users/me", headers=bearer(squatter)).status_code == 204
    assert confirm(client, token).json()["email"] == NEW


def test_links_sent_to_the_old_address_die_with_the_change(client, mailbox):
    tokens = registered(client)["tokens"]
    verification = mailbox.token(OLD, "verify-email")
    client.post(f"{API}/auth/forgot-password", json={"email": OLD})
    reset = mailbox.token(OLD, "reset-password")
    changed(client, mailbox, tokens)
    assert_error(client.post(f"{API}/auth/verify-email", json={"token": verification}), 400, "INVALID_TOKEN")
    body = {"token": reset, "password": NEW_PASSWORD}
    assert_error(client.post(f"{API}/auth/reset-password", json=body), 400, "INVALID_TOKEN")


def test_tokens_only_work_for_their_own_purpose(client, mailbox):
    tokens = registered(client)["tokens"]
    change_email(client, tokens)
    assert_error(confirm(client, mailbox.token(OLD, "revert-email-change")), 400, "INVALID_TOKEN")
    assert_error(revert(client, mailbox.token(NEW, "confirm-email-change")), 400, "INVALID_TOKEN")
    assert_error(confirm(client, mailbox.token(OLD, "verify-email")), 400, "INVALID_TOKEN")


# Revert ----------------------------------------------------------------------------------------


def test_reverting_a_confirmed_change_puts_the_old_address_back_and_ends_every_session(client, mailbox):
    asking = registered(client)["tokens"]
    changed(client, mailbox, asking)
    later = login(client, email=NEW).json()["tokens"]

    response = revert(client, mailbox.token(OLD, "revert-email-change"))
    assert response.status_code == 200, response.text
    assert response.json()["email"] == OLD
    assert response.json()["emailVerified"] is True
    for tokens in (asking, later):
        assert_error(me(client, tokens), 401, "UNAUTHORIZED")
        assert_error(refresh(client, tokens["refreshToken"]), 401, "UNAUTHORIZED")
    assert_error(login(client, email=NEW), 401, "INVALID_CREDENTIALS")
    assert login(client).status_code == 200
    assert "auth.email_change_reverted" in actions()


def test_a_revert_emails_the_old_address_a_working_reset_link_once(client, mailbox):
    changed(client, mailbox, registered(client)["tokens"])
    revert(client, mailbox.token(OLD, "revert-email-change"))
    [suggestion] = [m for m in mailbox.messages(OLD) if "put back" in m["Subject"]]
    text, _ = bodies(suggestion)
    assert "choose a new one" in text
    body = {"token": mailbox.token(OLD, "reset-password"), "password": NEW_PASSWORD}
    assert client.post(f"{API}/auth/reset-password", json=body).status_code == 204
    assert login(client, password=NEW_PASSWORD).status_code == 200
    assert email_kinds().count("email_change_reverted") == 1


def test_reverting_before_confirmation_cancels_the_change_and_ends_every_session(client, mailbox):
    tokens = registered(client)["tokens"]
    change_email(client, tokens)
    assert revert(client, mailbox.token(OLD, "revert-email-change")).json()["email"] == OLD
    assert_error(me(client, tokens), 401, "UNAUTHORIZED")
    assert_error(confirm(client, mailbox.token(NEW, "confirm-email-change")), 400, "INVALID_TOKEN")
    assert User.get().email == OLD


def test_a_revert_link_works_once_and_for_seven_days(client, mailbox, clock):
    tokens = registered(client)["tokens"]
    changed(client, mailbox, tokens)
    token = mailbox.token(OLD, "revert-email-change")
    clock.advance(days=7, seconds=1)
    assert_error(revert(client, token), 400, "INVALID_TOKEN")
    clock.advance(days=-1)
    assert revert(client, token).status_code == 200
    assert_error(revert(client, token), 400, "INVALID_TOKEN")


def test_a_revert_voids_the_later_changes_revert_links(client, mailbox):
    tokens = registered(client)["tokens"]
    changed(client, mailbox, tokens)
    changed(client, mailbox, tokens, new="ann@example.net")
    back_to_old = mailbox.token(OLD, "revert-email-change")
    back_to_new = mailbox.token(NEW, "revert-email-change")
    assert revert(client, back_to_old).json()["email"] == OLD
    assert_error(revert(client, back_to_new), 400, "INVALID_TOKEN")


def test_the_old_address_is_held_for_its_revert_link(client, mailbox):
    changed(client, mailbox, registered(client)["tokens"])
    assert_error(register(client, email=OLD), 409, "EMAIL_EXISTS")
    bob = registered(client, email="bob@example.com")["tokens"]
    assert_error(change_email(client, bob, new=OLD), 409, "EMAIL_EXISTS")
    assert revert(client, mailbox.token(OLD, "revert-email-change")).status_code == 200


def test_the_old_address_is_free_again_once_the_account_is_deleted(client, mailbox):
    tokens = registered(client)["tokens"]
    changed(client, mailbox, tokens)
    assert client.delete(f"{API}/users/me", headers=bearer(tokens)).status_code == 204
    assert register(client, email=OLD).status_code == 201


# Security notices ------------------------------------------------------------------------------


def test_a_password_change_notice_says_what_when_and_what_to_do(client, mailbox):
    tokens = registered(client)["tokens"]
    body = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    assert client.post(f"{API}/users/me/password", json=body, headers=bearer(tokens)).status_code == 204
    [notice] = [m for m in mailbox.messages(OLD) if "password was changed" in m["Subject"]]
    text, html = bodies(notice)
    assert "every other session was signed out" in text
    assert " UTC" in text
    assert "If this was not you" in text
    assert "If this was not you" in html
    assert email_kinds().count("password_changed") == 1


def test_a_password_reset_notice_says_every_session_ended(client, mailbox):
    registered(client)
    client.post(f"{API}/auth/forgot-password", json={"email": OLD})
    body = {"token": mailbox.token(OLD, "reset-password"), "password": NEW_PASSWORD}
    assert client.post(f"{API}/auth/reset-password", json=body).status_code == 204
    [notice] = [m for m in mailbox.messages(OLD) if "password was changed" in m["Subject"]]
    assert "and every session was signed out" in bodies(notice)[0]


def test_a_password_reset_cancels_a_pending_change(client, mailbox):
    tokens = registered(client)["tokens"]
    change_email(client, tokens)
    client.post(f"{API}/auth/forgot-password", json={"email": OLD})
    body = {"token": mailbox.token(OLD, "reset-password"), "password": NEW_PASSWORD}
    assert client.post(f"{API}/auth/reset-password", json=body).status_code == 204
    assert_error(confirm(client, mailbox.token(NEW, "confirm-email-change")), 400, "INVALID_TOKEN")


def test_requests_at_once_leave_one_live_confirmation_link(client, mailbox):
    registered(client)
    user, session = User.get(), Session.get()
    addresses = iter(f"ann{n}@example.org" for n in range(4))
    lock = threading.Lock()

    def request() -> None:
        with lock:
            address = next(addresses)
        accounts_service.request_email_change(str(user.id), str(session.id), address, PASSWORD)

    outcomes = at_once(4, request)
    assert outcomes == [None] * 4
    live = OneTimeToken.select().where(
        (OneTimeToken.purpose == "confirm_email_change") & OneTimeToken.used_at.is_null()
    )
    assert live.count() == 1
