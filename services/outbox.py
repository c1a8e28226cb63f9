"""The transactional outbox: work for the workers, written with the change that caused it.

``enqueue`` inserts a row in the caller's transaction and, once that transaction
commits, publishes the row's id to Celery (never before: a rollback sends
nothing). Publishing is bounded by the broker timeout; if the broker is down
the row stays ``pending`` and the periodic relay (``tasks.maintenance.relay_outbox``)
publishes it later. A row whose claim lease ran out is published again.

States: pending → dispatched (on the broker) → processing (claimed by a worker,
under a lease) → done, or back to pending with backoff, or failed after
``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any
from uuid import UUID

from celery_app import celery
from core.logs import request_id_var
from models import OutboxMessage, db
from models.db import utcnow

log = logging.getLogger("cairn.outbox")

MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=5)
RELAY_BATCH = 200


def enqueue(task: str, queue: str, payload: dict[str, Any], topic: str | None = None) -> OutboxMessage:
    """Record work for a worker in the current transaction; publish it after commit."""
    message = OutboxMessage.create(
        task=task, queue=queue, payload=json.dumps(payload), topic=topic, request_id=request_id_var.get()
    )
    db.after_commit(lambda: publish(message.id))
    return message


def recently_enqueued(topic: str, within: timedelta) -> bool:
    """Whether a message on ``topic`` was enqueued in the last ``within`` (per-kind email throttle)."""
    since = utcnow() - within
    query = OutboxMessage.select().where((OutboxMessage.topic == topic) & (OutboxMessage.created_at > since))
    return query.exists()


def publish(message_id: UUID | str) -> bool:
    """Send one pending row to the broker; False (row left pending) if the broker is unreachable."""
    with db.connection_context():
        message = OutboxMessage.get_or_none(OutboxMessage.id == message_id)
        if message is None or message.state not in ("pending", "dispatched"):
            return False
        if celery.conf.task_always_eager:
            return _run_inline(message)
        try:
            celery.send_task(
                message.task,
                args=[str(message.id)],
                queue=message.queue,
                headers={"request_id": message.request_id},
                retry=False,
            )
        except Exception as exc:  # kombu raises many types for "broker unreachable"
            log.warning("outbox: broker unavailable, %s stays pending: %s", message.id, exc)
            return False
        (
            OutboxMessage.update(state="dispatched", lease_until=utcnow() + LEASE)
            .where((OutboxMessage.id == message.id) & (OutboxMessage.state == "pending"))
            .execute()
        )
    return True


def _run_inline(message: OutboxMessage) -> bool:
    """Eager mode (in-process tests): ``send_task`` ignores ``task_always_eager``, so run the task here."""
    celery.loader.import_default_modules()
    celery.tasks[message.task].apply(args=[str(message.id)], headers={"request_id": message.request_id}, throw=True)
    return True


def claim(message_id: str) -> OutboxMessage | None:
    """Take a row for processing (one worker at a time, under a lease); None if done, failed or taken."""
    now = utcnow()
    claimable = OutboxMessage.state.in_(("pending", "dispatched")) | (
        (OutboxMessage.state == "processing") & (OutboxMessage.lease_until < now)
    )
    updated = (
        OutboxMessage.update(state="processing", lease_until=now + LEASE, attempts=OutboxMessage.attempts + 1)
        .where((OutboxMessage.id == message_id) & claimable)
        .execute()
    )
    return OutboxMessage.get_by_id(message_id) if updated else None


def complete(message_id: str) -> None:
    OutboxMessage.update(state="done", finished_at=utcnow(), lease_until=None, last_error=None).where(
        OutboxMessage.id == message_id
    ).execute()


def release(message_id: str, error: str, retry_in: timedelta) -> None:
    """A transient failure: the row waits for Celery's retry (the lease covers the countdown)."""
    OutboxMessage.update(state="dispatched", last_error=error[:2000], lease_until=utcnow() + retry_in + LEASE).where(
        OutboxMessage.id == message_id
    ).execute()


def give_up(message_id: str, error: str) -> None:
    """Retries exhausted (or a permanent error): ``failed``, visible in ``GET /admin/queues``."""
    OutboxMessage.update(state="failed", last_error=error[:2000], lease_until=None, finished_at=utcnow()).where(
        (OutboxMessage.id == message_id) & (OutboxMessage.state != "done")
    ).execute()


def due_for_relay(limit: int = RELAY_BATCH) -> list[str]:
    """Rows to (re)publish: pending and available, or dispatched/processing with an expired lease."""
    now = utcnow()
    due = ((OutboxMessage.state == "pending") & (OutboxMessage.available_at <= now)) | (
        OutboxMessage.state.in_(("dispatched", "processing")) & (OutboxMessage.lease_until < now)
    )
    query = OutboxMessage.select(OutboxMessage.id).where(due).order_by(OutboxMessage.created_at).limit(limit)
    return [str(row.id) for row in query]


def requeue_expired(message_id: str) -> None:
    """A dispatched or processing row whose lease ran out goes back to pending."""
    OutboxMessage.update(state="pending", lease_until=None).where(
        (OutboxMessage.id == message_id)
        & OutboxMessage.state.in_(("dispatched", "processing"))
        & (OutboxMessage.lease_until < utcnow())
    ).execute()


def relay(limit: int = RELAY_BATCH) -> int:
    """Publish whatever is due; returns how many rows reached the broker."""
    published = 0
    for message_id in due_for_relay(limit):
        requeue_expired(message_id)
        published += publish(message_id)
    return published
