"""Celery tasks, one module per queue; the email and audit tasks are driven by outbox rows.

Every outbox task takes one argument, the row id, and is idempotent by it:
``process`` claims the row (a done, failed or already-claimed row is skipped,
so a redelivered or duplicated message has no second effect), runs the
handler, and marks the row done. Transient failures retry with exponential
backoff and jitter (declared on ``OutboxTask``); when retries run out the row
is marked ``failed`` with its last error.

The database connection of a task is opened and closed by the signal handlers
in ``celery_app`` (around every task, eager ones included). Tasks are ``shared_task``s:
they belong to whichever app ``celery_app.create_celery`` built, and import no entry point.
Their retry backoff comes from the settings through that app's task annotations.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from datetime import timedelta

from celery import Task
from peewee import InterfaceError, OperationalError

from models import OutboxMessage, db
from services import outbox

log = logging.getLogger("cairn.tasks")

TRANSIENT_ERRORS = (smtplib.SMTPException, ConnectionError, TimeoutError, OSError, OperationalError, InterfaceError)


class OutboxTask(Task):
    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = 2  # seconds, doubled each retry; TASK_RETRY_BACKOFF_SECONDS through the app's annotations
    retry_backoff_max = 300
    retry_jitter = True
    max_retries = outbox.MAX_ATTEMPTS - 1  # so Celery's last retry is the outbox row's last attempt
    acks_late = True
    reject_on_worker_lost = True

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:  # noqa: ARG002 - Celery's signature
        """Retries exhausted, or a non-transient error: make the failure visible, never silent."""
        log.error("task %s gave up on outbox row %s: %r", self.name, args[0] if args else None, exc)
        outbox.give_up(args[0], repr(exc))


def process(task: Task, message_id: str, handler: Callable[[OutboxMessage], None], atomic: bool = False) -> str:
    """Run ``handler`` once for the outbox row; ``atomic`` puts the effect and "done" in one transaction.

    Returns "done" or "skipped"; re-raises transient errors (Celery retries them) after
    recording them on the row.
    """
    message = outbox.claim(message_id, task.request.id)
    if message is None:
        log.info("outbox row %s already handled, taken or out of attempts; skipping", message_id)
        return "skipped"
    try:
        if atomic:
            with db.atomic():
                handler(message)
                outbox.complete(message.id)
        else:
            handler(message)
            outbox.complete(message.id)
    except TRANSIENT_ERRORS as exc:
        countdown = min(task.retry_backoff * 2**task.request.retries, task.retry_backoff_max)
        outbox.release(message.id, repr(exc), timedelta(seconds=countdown))
        raise
    return "done"
