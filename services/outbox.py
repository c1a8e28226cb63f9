"""The transactional outbox: work for the workers, written with the change that caused it.

``enqueue`` inserts a row in the caller's transaction and, once that transaction
commits, publishes the row's id to Celery (never before: a rollback sends
nothing). The row is born ``dispatched`` under a lease, so publishing it takes
no second write: if this process dies between the commit and the publish, the
lease runs out and the relay sends it then. Publishing is bounded by the
broker's socket timeouts, and after one failure this process stops trying for
``BROKER_COOLDOWN`` seconds, so a request waits at most about one timeout on a
dead broker; the row goes back to ``pending`` and the periodic relay
(``tasks.maintenance.relay_outbox``) publishes it on its next run. (peewee also
runs the after-commit callbacks of a rolled-back savepoint, so such a row's id
can reach the broker: its task finds no row to claim and does nothing.)

States: pending → dispatched (on the broker, under a lease) → processing
(claimed by one delivery of the task, under a lease) → done; a transient
failure goes back to dispatched for Celery's retry; ``failed`` when the
attempts run out. A row whose lease ran out is due again: the relay publishes
it once more and ``claim`` lets exactly one delivery take it.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from celery import Task
from peewee import fn

from celery_app import celery
from core.config import get_settings
from core.logs import request_id_var
from models import OutboxMessage, db
from models.db import is_postgres, utcnow
from models.prepared import insert
from services.tx import writing

log = logging.getLogger("cairn.outbox")

MAX_ATTEMPTS = 5
RELAY_BATCH = 200
BROKER_COOLDOWN_SECONDS = 5.0
MAX_ERROR_CHARS = 2000

_broker_down_until = 0.0  # time.monotonic() before which this process does not try the broker again


def lease() -> timedelta:
    """How long a dispatched or claimed row may stay so before it is due again (OUTBOX_LEASE_SECONDS)."""
    return timedelta(seconds=get_settings().outbox_lease_seconds)


def enqueue(task: str, queue: str, payload: dict[str, Any], topic: str | None = None) -> OutboxMessage:
    """Record work for a worker in the current transaction; publish it after commit (at once outside one)."""
    message = insert(
        OutboxMessage(
            task=task,
            queue=queue,
            payload=json.dumps(payload),
            topic=topic,
            request_id=request_id_var.get(),
            state="dispatched",
            lease_until=utcnow() + lease(),
        )
    )
    db.after_commit(lambda: publish(message))
    return message


def recently_enqueued(topic: str, within: timedelta) -> bool:
    """Whether a message on ``topic`` was enqueued in the last ``within`` (per-kind email throttle)."""
    since = utcnow() - within
    query = OutboxMessage.select().where((OutboxMessage.topic == topic) & (OutboxMessage.created_at > since))
    return query.exists()


def publish(message: OutboxMessage) -> bool:
    """Send one just-committed row to the broker; False if the relay must do it.

    Never raises: it runs after the commit, when the request has already succeeded.
    """
    try:
        if _send(message):
            return True
        with _connected():
            _return_to_pending([message.id])
    except Exception:
        if celery.conf.task_always_eager:  # in-process tests: a failing task must fail the test
            raise
        log.exception("outbox: could not publish %s; the relay will", message.id)
    return False


def relay(limit: int = RELAY_BATCH) -> int:
    """Publish what is due; returns how many rows reached the broker. Safe to run concurrently.

    Stops at the first broker failure (the rest stay due for the next run).
    """
    messages = _take_due(limit)
    for sent, message in enumerate(messages):
        if not _send(message):
            _return_to_pending([m.id for m in messages[sent:]])
            return sent
    return len(messages)


def claim(message_id: str, delivery: str) -> OutboxMessage | None:
    """Take a row for processing; None if it is done, failed, or held by another live delivery.

    ``delivery`` is the Celery task id. A row is free when pending or dispatched,
    when its lease ran out, or when this same delivery holds it: the broker
    redelivered the message because the worker running it died. A row out of
    attempts is marked ``failed`` instead.
    """
    now = utcnow()
    free = OutboxMessage.state.in_(("pending", "dispatched")) | (
        (OutboxMessage.state == "processing")
        & ((OutboxMessage.lease_until < now) | (OutboxMessage.claimed_by == delivery))
    )
    mine = (OutboxMessage.id == message_id) & free
    updated = (
        OutboxMessage.update(
            state="processing", lease_until=now + lease(), attempts=OutboxMessage.attempts + 1, claimed_by=delivery
        )
        .where(mine & (OutboxMessage.attempts < MAX_ATTEMPTS))
        .execute()
    )
    if updated:
        return OutboxMessage.get_by_id(message_id)
    exhausted = (
        OutboxMessage.update(
            state="failed",
            finished_at=now,
            lease_until=None,
            last_error=fn.COALESCE(OutboxMessage.last_error, f"gave up after {MAX_ATTEMPTS} attempts"),
        )
        .where(mine & (OutboxMessage.attempts >= MAX_ATTEMPTS))
        .execute()
    )
    if exhausted:
        log.error("outbox row %s is out of attempts: failed", message_id)
    return None


def complete(message_id: str | UUID) -> None:
    OutboxMessage.update(state="done", finished_at=utcnow(), lease_until=None, last_error=None).where(
        OutboxMessage.id == message_id
    ).execute()


def release(message_id: str | UUID, error: str, retry_in: timedelta) -> None:
    """A transient failure: the row waits for Celery's retry (the lease covers the countdown)."""
    OutboxMessage.update(
        state="dispatched", last_error=error[:MAX_ERROR_CHARS], lease_until=utcnow() + retry_in + lease()
    ).where(OutboxMessage.id == message_id).execute()


def give_up(message_id: str | UUID, error: str) -> None:
    """Retries exhausted (or a permanent error): ``failed``, visible in ``GET /admin/queues``."""
    OutboxMessage.update(
        state="failed", last_error=error[:MAX_ERROR_CHARS], lease_until=None, finished_at=utcnow()
    ).where((OutboxMessage.id == message_id) & (OutboxMessage.state != "done")).execute()


def _due(now: datetime):
    pending = (OutboxMessage.state == "pending") & (OutboxMessage.available_at <= now)
    lease_ran_out = OutboxMessage.state.in_(("dispatched", "processing")) & (OutboxMessage.lease_until < now)
    return pending | lease_ran_out


def _take_due(limit: int) -> list[OutboxMessage]:
    """Mark up to ``limit`` due rows dispatched, oldest first. Concurrent relays take disjoint rows:
    ``SKIP LOCKED`` on PostgreSQL, the single write lock (``BEGIN IMMEDIATE``) on SQLite."""
    now = utcnow()
    with writing():
        query = OutboxMessage.select().where(_due(now)).order_by(OutboxMessage.created_at).limit(limit)
        if is_postgres():
            query = query.for_update("FOR UPDATE SKIP LOCKED")
        messages = list(query)
        if messages:
            OutboxMessage.update(state="dispatched", lease_until=now + lease()).where(
                OutboxMessage.id.in_([m.id for m in messages])
            ).execute()
    return messages


def _return_to_pending(message_ids: list) -> None:
    """Rows the broker did not take (unless a worker already claimed one: the send got through after all)."""
    OutboxMessage.update(state="pending", lease_until=None).where(
        OutboxMessage.id.in_(message_ids) & (OutboxMessage.state == "dispatched")
    ).execute()


def _send(message: OutboxMessage) -> bool:
    """One message on the broker; False (and a cool-down for this process) if the broker is unreachable.

    With ``task_always_eager`` (in-process tests) the task runs here and now, its errors propagating.
    """
    global _broker_down_until
    if celery.conf.task_always_eager:
        _task(message.task).apply(args=[str(message.id)], headers={"request_id": message.request_id}, throw=True)
        return True
    if time.monotonic() < _broker_down_until:
        return False
    try:
        _task(message.task).apply_async(
            args=[str(message.id)], queue=message.queue, headers={"request_id": message.request_id}, retry=False
        )
    except Exception as exc:  # kombu raises many types for "broker unreachable"
        _broker_down_until = time.monotonic() + BROKER_COOLDOWN_SECONDS
        log.warning("outbox: broker unavailable, %s left for the relay: %s", message.id, exc)
        return False
    return True


def _task(name: str) -> Task:
    """The registered task, importing its module on first use (the API imports no task module itself)."""
    if name not in celery.tasks:
        importlib.import_module(name.rpartition(".")[0])
    return celery.tasks[name]


def _connected() -> AbstractContextManager:
    """The caller's connection when it has one (a request, a task); else one opened for this block."""
    return db.connection_context() if db.is_closed() else nullcontext()
