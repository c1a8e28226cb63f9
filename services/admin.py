"""What ops look at: the Celery queues, the live workers, and the outbox behind them.

``queue_status`` answers in about a second whatever the state of the background
side: the broker is asked with its short socket timeouts (nothing else is asked
of it when it is unreachable), and the workers get ``INSPECT_TIMEOUT_SECONDS``
to answer (none running is an empty list, not an error).
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.exceptions import ChannelError
from peewee import fn

from celery_app import QUEUES, celery
from core.formats import rfc3339
from models import OutboxMessage
from models.db import utcnow
from models.outbox import OUTBOX_STATES

log = logging.getLogger("cairn.admin")

INSPECT_TIMEOUT_SECONDS = 0.5
FAILED_SHOWN = 50
BACKLOG_STATES = tuple(state for state in OUTBOX_STATES if state != "done")


def queue_status() -> dict[str, Any]:
    """Pending messages per queue, outbox backlog, recent failures, workers with their active tasks."""
    depths = queue_depths()
    return {
        "queues": [{"name": name, "pending": depths.get(name) if depths else None} for name in QUEUES],
        "outbox": outbox_backlog(),
        "failedMessages": _failed_messages(),
        "workers": _workers() if depths is not None else [],
        "brokerReachable": depths is not None,
    }


def queue_depths() -> dict[str, int] | None:
    """Messages waiting in each queue (reserved and running ones are not counted); None if unreachable.

    Bounded by the broker's socket timeouts (about a second when Redis hangs).
    """
    try:
        with celery.connection_for_read() as connection:
            channel = connection.default_channel
            return {name: _depth(channel, name) for name in QUEUES}
    except Exception as exc:  # kombu and redis-py raise many types for "broker unreachable"
        log.warning("queue status: broker unreachable: %s", exc)
        return None


def _depth(channel, name: str) -> int:
    try:
        return channel.queue_declare(queue=name, passive=True).message_count
    except ChannelError:  # Redis has no key for an empty list: nothing waiting
        return 0


def _workers() -> list[dict[str, Any]]:
    try:
        active = celery.control.inspect(timeout=INSPECT_TIMEOUT_SECONDS).active() or {}
    except Exception as exc:  # the broker went away between the two calls
        log.warning("queue status: workers could not be inspected: %s", exc)
        return []
    return [
        {"name": worker, "active": [{"id": task["id"], "name": task["name"]} for task in tasks]}
        for worker, tasks in sorted(active.items())
    ]


def outbox_backlog() -> dict[str, Any]:
    """Outbox rows not done yet, by state, and the age in seconds of the oldest pending one (None if none)."""
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
    age = round(max((utcnow() - oldest.created_at).total_seconds(), 0.0), 1) if oldest else None
    return {**{state: counts.get(state, 0) for state in BACKLOG_STATES}, "oldestPendingAge": age}


def _failed_messages() -> list[dict[str, Any]]:
    rows = (
        OutboxMessage.select()
        .where(OutboxMessage.state == "failed")
        .order_by(OutboxMessage.finished_at.desc(), OutboxMessage.id)
        .limit(FAILED_SHOWN)
    )
    return [
        {
            "id": str(row.id),
            "task": row.task,
            "attempts": row.attempts,
            "lastError": row.last_error,
            "createdAt": rfc3339(row.created_at),
        }
        for row in rows
    ]
