"""One-time tokens: derived from the outbox row, stored once as a hash, consumed once."""

from __future__ import annotations

from datetime import timedelta

from core.tokens import hash_token
from models import OneTimeToken, OutboxMessage
from models.db import utcnow
from services import one_time_tokens
from tests.concurrency import at_once


def outbox_row() -> OutboxMessage:
    return OutboxMessage.create(task="tasks.emails.send_email", queue="emails", payload="{}")


def test_issuing_twice_for_one_row_stores_one_hash(accounts):
    user, row = accounts.create(), outbox_row()
    token = one_time_tokens.issue_for(row, "reset_password", user.id)
    assert one_time_tokens.issue_for(row, "reset_password", user.id) == token
    [stored] = OneTimeToken.select()
    assert stored.token_hash == hash_token(token)
    assert stored.expires_at == row.created_at + timedelta(minutes=60)


def test_consume_checks_purpose_expiry_and_use(accounts):
    user = accounts.create()
    token = one_time_tokens.issue_for(outbox_row(), "verify_email", user.id)
    assert one_time_tokens.consume(token, "reset_password") is None
    assert one_time_tokens.consume(token, "verify_email", now=utcnow() + timedelta(hours=24, seconds=1)) is None
    assert one_time_tokens.consume(token, "verify_email") == str(user.id)
    assert one_time_tokens.consume(token, "verify_email") is None
    assert one_time_tokens.consume("never-issued", "verify_email") is None


def test_concurrent_consumers_have_exactly_one_winner(accounts):
    token = one_time_tokens.issue_for(outbox_row(), "reset_password", accounts.create().id)
    results = at_once(6, lambda: one_time_tokens.consume(token, "reset_password"))
    assert len(results) == 6
    assert len([result for result in results if result]) == 1


def test_void_all_spends_every_outstanding_token_of_the_purpose(accounts):
    user = accounts.create()
    resets = [one_time_tokens.issue_for(outbox_row(), "reset_password", user.id) for _ in range(2)]
    verify = one_time_tokens.issue_for(outbox_row(), "verify_email", user.id)
    assert one_time_tokens.void_all(user.id, "reset_password") == 2
    assert all(one_time_tokens.consume(token, "reset_password") is None for token in resets)
    assert one_time_tokens.consume(verify, "verify_email") == str(user.id)
