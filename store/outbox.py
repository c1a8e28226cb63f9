"""The outbox table: rows of work for the workers, with their states and leases.

States: pending → dispatched (on the broker, under a lease) → processing (claimed by one
delivery of the task, under a lease) → done; a transient failure goes back to dispatched;
``failed`` when the attempts run out. A row whose lease ran out is due again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from peewee import fn

from models import OutboxMessage
from models.outbox import OUTBOX_STATES
from store.adapter import insert
from store.database import is_postgres, writing

MAX_ERROR_CHARS = 2000
BACKLOG_STATES = tuple(state for state in OUTBOX_STATES if state != "done")


def add(
    task: str, queue: str, payload: str, topic: str | None, request_id: str | None, lease_until: datetime
) -> OutboxMessage:
    """Insert a row, born ``dispatched`` under a lease (publishing it then takes no second write)."""
    message = OutboxMessage(
        task=task,
        queue=queue,
        payload=payload,
        topic=topic,
        request_id=request_id,
        state="dispatched",
        lease_until=lease_until,
    )
    return insert(message)


def enqueued_since(topic: str, since: datetime) -> bool:
    return OutboxMessage.select().where((OutboxMessage.topic == topic) & (OutboxMessage.created_at > since)).exists()


def _free_for(message_id: str, delivery: str, now: datetime) -> Any:
    """The row, if pending or dispatched, or processing under a lease that ran out or held by ``delivery``
    (the broker redelivered the message because the worker running it died)."""
    free = OutboxMessage.state.in_(("pending", "dispatched")) | (
        (OutboxMessage.state == "processing")
        & ((OutboxMessage.lease_until < now) | (OutboxMessage.claimed_by == delivery))
    )
    return (OutboxMessage.id == message_id) & free


def claim(
    message_id: str, delivery: str, now: datetime, lease_until: datetime, max_attempts: int
) -> OutboxMessage | None:
    """Take the row for ``delivery`` if it is free and has attempts left; None otherwise."""
    mine = _free_for(message_id, delivery, now)
    updated = (
        OutboxMessage.update(
            state="processing", lease_until=lease_until, attempts=OutboxMessage.attempts + 1, claimed_by=delivery
        )
        .where(mine & (OutboxMessage.attempts < max_attempts))
        .execute()
    )
    return OutboxMessage.get_by_id(message_id) if updated else None


def fail_exhausted(message_id: str, delivery: str, now: datetime, max_attempts: int) -> bool:
    """Mark the row ``failed`` if it is free and out of attempts; True if it was."""
    return bool(
        OutboxMessage.update(
            state="failed",
            finished_at=now,
            lease_until=None,
            last_error=fn.COALESCE(OutboxMessage.last_error, f"gave up after {max_attempts} attempts"),
        )
        .where(_free_for(message_id, delivery, now) & (OutboxMessage.attempts >= max_attempts))
        .execute()
    )


def complete(message_id: Any, now: datetime) -> None:
    OutboxMessage.update(state="done", finished_at=now, lease_until=None, last_error=None).where(
        OutboxMessage.id == message_id
    ).execute()


def release(message_id: Any, error: str, lease_until: datetime) -> None:
    """A transient failure: back to ``dispatched``, waiting for Celery's retry under a lease."""
    OutboxMessage.update(state="dispatched", last_error=error[:MAX_ERROR_CHARS], lease_until=lease_until).where(
        OutboxMessage.id == message_id
    ).execute()


def give_up(message_id: Any, error: str, now: datetime) -> None:
    OutboxMessage.update(state="failed", last_error=error[:MAX_ERROR_CHARS], lease_until=None, finished_at=now).where(
        (OutboxMessage.id == message_id) & (OutboxMessage.state != "done")
    ).execute()


def _due(now: datetime) -> Any:
    pending = (OutboxMessage.state == "pending") & (OutboxMessage.available_at <= now)
    lease_ran_out = OutboxMessage.state.in_(("dispatched", "processing")) & (OutboxMessage.lease_until < now)
    return pending | lease_ran_out


def take_due(limit: int, now: datetime, lease_until: datetime) -> list[OutboxMessage]:
    """Mark up to ``limit`` due rows dispatched, oldest first. Concurrent relays take disjoint rows:
    ``SKIP LOCKED`` on PostgreSQL, the single write lock (``BEGIN IMMEDIATE``) on SQLite."""
    with writing():
        query = OutboxMessage.select().where(_due(now)).order_by(OutboxMessage.created_at).limit(limit)
        if is_postgres():
            query = query.for_update("FOR UPDATE SKIP LOCKED")
        messages = list(query)
        if messages:
            OutboxMessage.update(state="dispatched", lease_until=lease_until).where(
                OutboxMessage.id.in_([m.id for m in messages])
            ).execute()
    return messages


def return_to_pending(message_ids: list) -> None:
    """Rows the broker did not take (unless a worker already claimed one: the send got through after all)."""
    OutboxMessage.update(state="pending", lease_until=None).where(
        OutboxMessage.id.in_(message_ids) & (OutboxMessage.state == "dispatched")
    ).execute()


def backlog(now: datetime) -> dict[str, Any]:
    """Rows not done yet, by state, and the age in seconds of the oldest pending one (None if none)."""
    counts = dict(
        OutboxMessage.select(OutboxMessage.state, fn.COUNT(OutboxMessage.id))
        .where(OutboxMessage.state.in_(BACKLOG_STATES))
        .group_by(OutboxMessage.state)
        .tuples()
    )
    oldest = (
        OutboxMessage.select(OutboxMessage.created_at)
        .where(OutboxMessage.state == "pending")
        .order_by(OutboxMessage.created_at)
        .first()
    )
    age = round(max((now - oldest.created_at).total_seconds(), 0.0), 1) if oldest else None
    return {**{state: counts.get(state, 0) for state in BACKLOG_STATES}, "oldestPendingAge": age}


def failed(limit: int) -> list[OutboxMessage]:
    """The latest rows that ran out of attempts."""
    return list(
        OutboxMessage.select()
        .where(OutboxMessage.state == "failed")
        .order_by(OutboxMessage.finished_at.desc(), OutboxMessage.id)
        .limit(limit)
    )
