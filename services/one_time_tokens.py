"""One-time tokens (email verification, password reset), with no secret ever stored.

The token in an email link is derived from the id of the outbox row that asked
for the email: ``base64url(HMAC-SHA256(JWT_SECRET, "one-time:" + outbox_id))``.
So the outbox payload carries no secret, and a retried or redelivered task
derives the very same token. Only the token's SHA-256 is stored (insert if
absent); it expires a fixed time after the row was written, whenever it is sent.

A token is consumed by one conditional ``UPDATE`` (``store/one_time_tokens.py``):
single use, even under concurrent requests.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from core.tokens import derived_token, hash_token
from models import OutboxMessage
from models.db import utcnow
from store import one_time_tokens as store

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"
TTL = {VERIFY_EMAIL: timedelta(hours=24), RESET_PASSWORD: timedelta(minutes=60)}


def derive(outbox_id: UUID | str) -> str:
    """The link token for an outbox row (deterministic, unguessable without JWT_SECRET)."""
    return derived_token("one-time", UUID(str(outbox_id)))


def issue_for(message: OutboxMessage, purpose: str, user_id: UUID | str) -> str:
    """Store the hash of the row's token (once) and return the token for the link."""
    token = derive(message.id)
    expires_at = message.created_at + TTL[purpose]
    store.add_once(user_id, purpose, hash_token(token), message.created_at, expires_at)
    return token


def consume(token: str, purpose: str, now: datetime | None = None) -> str | None:
    """Mark a live token used and return its user id; None if unknown, used, expired or another purpose."""
    return store.consume(hash_token(token), purpose, now or utcnow())


def void_all(user_id: UUID | str, purpose: str, now: datetime | None = None) -> int:
    """Use up every outstanding token of this purpose (a reset link dies once the password changes)."""
    return store.void_all(user_id, purpose, now or utcnow())
