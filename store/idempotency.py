"""Idempotency keys: claimed by one request at a time, completed in that request's transaction.

The unique index on (user, operation, key) decides which of several concurrent requests claims
a key; a claim is ``(row id, claim id)``, and every later write is conditional on the claim id,
so a request whose lease was taken over can neither complete nor release the key.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

from peewee import IntegrityError

from models import IdempotencyKey
from models.idempotency import DONE, IN_PROGRESS
from store.database import writing


class Claim(NamedTuple):
    row_id: uuid.UUID
    claim_id: uuid.UUID


def find(user_id: Any, operation: str, key: str) -> IdempotencyKey | None:
    return IdempotencyKey.get_or_none(
        (IdempotencyKey.user == user_id) & (IdempotencyKey.operation == operation) & (IdempotencyKey.key == key)
    )


def claim(
    user_id: Any,
    operation: str,
    key: str,
    fingerprint: str,
    now: datetime,
    *,
    lease_until: datetime,
    expires_at: datetime,
) -> Claim | None:
    """Insert the key as in progress (committed at once); None when the key is already there."""
    row = Claim(uuid.uuid4(), uuid.uuid4())
    try:
        with writing():
            IdempotencyKey.insert(
                id=row.row_id,
                claim_id=row.claim_id,
                user=user_id,
                operation=operation,
                key=key,
                fingerprint=fingerprint,
                state=IN_PROGRESS,
                locked_until=lease_until,
                created_at=now,
                expires_at=expires_at,
            ).execute()
    except IntegrityError:
        return None
    return row


def take_over(row: IdempotencyKey, now: datetime, *, lease_until: datetime) -> Claim | None:
    """Claim an in-progress key whose lease ran out (its request died); None if another got there first."""
    claimed = Claim(row.id, uuid.uuid4())
    taken = (
        IdempotencyKey.update(claim_id=claimed.claim_id, locked_until=lease_until)
        .where(
            (IdempotencyKey.id == row.id)
            & (IdempotencyKey.state == IN_PROGRESS)
            & (IdempotencyKey.claim_id == row.claim_id)
            & (IdempotencyKey.locked_until <= now)
        )
        .execute()
    )
    return claimed if taken else None


def complete(claimed: Claim, status: int, body: str, headers: str, *, expires_at: datetime) -> bool:
    """Store the response under a key still held by ``claimed``; False when it is held no longer."""
    return bool(
        IdempotencyKey.update(
            state=DONE,
            claim_id=None,
            locked_until=None,
            response_status=status,
            response_body=body,
            response_headers=headers,
            expires_at=expires_at,
        )
        .where(_held(claimed))
        .execute()
    )


def release(claimed: Claim) -> None:
    """Forget a key still held by ``claimed`` (its request failed): the client may retry with it."""
    IdempotencyKey.delete().where(_held(claimed)).execute()


def forget_expired(row: IdempotencyKey, now: datetime) -> None:
    """Delete a key past its retention that the daily purge has not reached yet."""
    IdempotencyKey.delete().where((IdempotencyKey.id == row.id) & (IdempotencyKey.expires_at <= now)).execute()


def _held(claimed: Claim) -> Any:
    return (
        (IdempotencyKey.id == claimed.row_id)
        & (IdempotencyKey.claim_id == claimed.claim_id)
        & (IdempotencyKey.state == IN_PROGRESS)
    )
