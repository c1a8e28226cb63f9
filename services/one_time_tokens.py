"""One-time tokens (email verification, password reset, email change), with no secret ever stored.

The token in an email link is derived from the id of the outbox row that asked
for the email: ``base64url(HMAC-SHA256(JWT_SECRET, "one-time:" + outbox_id))``.
So the outbox payload carries no secret, and a retried or redelivered task
derives the very same token. Only the token's SHA-256 is stored (insert if
absent); it expires a fixed time after the row was written, whenever it is sent.

Verification and reset tokens are stored by the worker when it sends the email. Email-change
tokens are stored by the request itself, in its transaction, because they carry what the change
is about (``email``, ``session_id``) and a second request must be able to void them before any
worker has run.

A token is consumed by one conditional ``UPDATE`` (``store/one_time_tokens.py``):
single use, even under concurrent requests.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from core.tokens import derived_token, hash_token
from models import OneTimeToken, OutboxMessage
from models.db import utcnow
from store import one_time_tokens as store

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"
CONFIRM_EMAIL_CHANGE = "confirm_email_change"
REVERT_EMAIL_CHANGE = "revert_email_change"
TTL = {
    VERIFY_EMAIL: timedelta(hours=24),
    RESET_PASSWORD: timedelta(minutes=60),
    CONFIRM_EMAIL_CHANGE: timedelta(hours=1),
    REVERT_EMAIL_CHANGE: timedelta(days=7),
}


def derive(outbox_id: UUID | str) -> str:
    """The link token for an outbox row (deterministic, unguessable without JWT_SECRET)."""
    return derived_token("one-time", UUID(str(outbox_id)))


def issue_for(
    message: OutboxMessage, purpose: str, user_id: UUID | str, *, email: str | None = None, session_id: Any = None
) -> str:
    """Store the hash of the row's token (once) and return the token for the link."""
    token = derive(message.id)
    expires_at = message.created_at + TTL[purpose]
    store.add_once(user_id, purpose, hash_token(token), message.created_at, expires_at, email, session_id)
    return token


def is_live(message: OutboxMessage, now: datetime | None = None) -> bool:
    """Whether the row's token is stored, unused and unexpired (not voided by a later request)."""
    return store.is_live(hash_token(derive(message.id)), now or utcnow())


def consume(token: str, purpose: str, now: datetime | None = None) -> str | None:
    """Mark a live token used and return its user id; None if unknown, used, expired or another purpose."""
    row = consume_row(token, purpose, now)
    return str(row.user_id) if row else None


def consume_row(token: str, purpose: str, now: datetime | None = None) -> OneTimeToken | None:
    """Mark a live token used and return its row (with ``email`` and ``session_id``); None as ``consume``."""
    return store.consume(hash_token(token), purpose, now or utcnow())


def reserved_by_revert(email: str, now: datetime, for_anyone_but: Any = None) -> bool:
    """Whether a live revert link may put ``email`` back on another account (``for_anyone_but``'s own
    links reserve nothing against it): the address is not free for anyone else meanwhile."""
    return store.holds_email(email, REVERT_EMAIL_CHANGE, now, for_anyone_but)


def void_all(
    user_id: UUID | str, purpose: str, now: datetime | None = None, created_after: datetime | None = None
) -> int:
    """Use up every outstanding token of this purpose (a reset link dies once the password changes);
    with ``created_after``, only those made after it."""
    return store.void_all(user_id, purpose, now or utcnow(), created_after)
