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

Tasks are sent by name through the current Celery app (``celery_app.create_celery``
makes it current), so nothing here imports the entry point or a task module.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import Any
from uuid import UUID

from celery import Signature, current_app

from core.config import get_settings
from core.logs import request_id_var
from models import OutboxMessage, db
from models.db import utcnow
from store import outbox as store

log = logging.getLogger("cairn.outbox")

MAX_ATTEMPTS = 5
RELAY_BATCH = 200
BROKER_COOLDOWN_SECONDS = 5.0

_broker_down_until = 0.0  # time.monotonic() before which this process does not try the broker again


def lease() -> timedelta:
    """How long a dispatched or claimed row may stay so before it is due again (OUTBOX_LEASE_SECONDS)."""
    return timedelta(seconds=get_settings().outbox_lease_seconds)


def enqueue(task: str, queue: str, payload: dict[str, Any], topic: str | None = None) -> OutboxMessage:
    """Record work for a worker in the current transaction; publish it after commit (at once outside one)."""
    message = store.add(task, queue, json.dumps(payload), topic, request_id_var.get(), utcnow() + lease())
    db.after_commit(lambda: publish(message))
    return message


def recently_enqueued(topic: str, within: timedelta) -> bool:
    """Whether a message on ``topic`` was enqueued in the last ``within`` (per-kind email throttle)."""
    return store.enqueued_since(topic, utcnow() - within)


def publish(message: OutboxMessage) -> bool:
    """Send one just-committed row to the broker; False if the relay must do it.

    Never raises: it runs after the commit, when the request has already succeeded.
    """
    try:
        if _send(message):
            return True
        with _connected():
            store.return_to_pending([message.id])
    except Exception:
        if current_app.conf.task_always_eager:  # in-process tests: a failing task must fail the test
            raise
        log.exception("outbox: could not publish %s; the relay will", message.id)
    return False


def relay(limit: int = RELAY_BATCH) -> int:
    """Publish what is due; returns how many rows reached the broker. Safe to run concurrently.

    Stops at the first broker failure (the rest stay due for the next run).
    """
    now = utcnow()
    messages = store.take_due(limit, now, now + lease())
    for sent, message in enumerate(messages):
        if not _send(message):
            store.return_to_pending([m.id for m in messages[sent:]])
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
    message = store.claim(message_id, delivery, now, now + lease(), MAX_ATTEMPTS)
    if message is None and store.fail_exhausted(message_id, delivery, now, MAX_ATTEMPTS):
        log.error("outbox row %s is out of attempts: failed", message_id)
    return message


def complete(message_id: str | UUID) -> None:
    store.complete(message_id, utcnow())


def release(message_id: str | UUID, error: str, retry_in: timedelta) -> None:
    """A transient failure: the row waits for Celery's retry (the lease covers the countdown)."""
    store.release(message_id, error, utcnow() + retry_in + lease())


def give_up(message_id: str | UUID, error: str) -> None:
    """Retries exhausted (or a permanent error): ``failed``, visible in ``GET /admin/queues``."""
    store.give_up(message_id, error, utcnow())


def _send(message: OutboxMessage) -> bool:
    """One message on the broker; False (and a cool-down for this process) if the broker is unreachable.

    With ``task_always_eager`` (in-process tests) the task runs here and now, its errors propagating.
    """
    global _broker_down_until
    app = current_app
    headers = {"request_id": message.request_id}
    if app.conf.task_always_eager:
        app.tasks[message.task].apply(args=[str(message.id)], headers=headers, throw=True)
        return True
    if time.monotonic() < _broker_down_until:
        return False
    try:
        _task(message.task).apply_async(args=[str(message.id)], queue=message.queue, headers=headers, retry=False)
    except Exception as exc:  # kombu raises many types for "broker unreachable"
        _broker_down_until = time.monotonic() + BROKER_COOLDOWN_SECONDS
        log.warning("outbox: broker unavailable, %s left for the relay: %s", message.id, exc)
        return False
    return True


def _task(name: str) -> Signature:
    """The task by name, as a signature of the current app: sending it imports no task module."""
    return current_app.signature(name)


def _connected() -> AbstractContextManager:
    """The caller's connection when it has one (a request, a task); else one opened for this block."""
    return db.connection_context() if db.is_closed() else nullcontext()
