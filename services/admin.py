"""What ops look at: the Celery queues, the live workers, and the outbox behind them.

``queue_status`` answers in about a second whatever the state of the background
side: the broker is asked with its short socket timeouts (nothing else is asked
of it when it is unreachable), and the workers get ``INSPECT_TIMEOUT_SECONDS``
to answer (none running is an empty list, not an error).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from celery import current_app
from kombu.exceptions import ChannelError

from core.config import QUEUES
from models import OutboxMessage
from models.db import utcnow
from store import outbox as store

log = logging.getLogger("cairn.admin")

INSPECT_TIMEOUT_SECONDS = 0.5
FAILED_SHOWN = 50


@dataclass(frozen=True)
class QueueStatus:
    """Queue depths (None when the broker is unreachable), the outbox backlog, failures, live workers."""

    depths: dict[str, int] | None
    outbox: dict[str, Any]
    failed: list[OutboxMessage]
    workers: list[dict[str, Any]]


def queue_status() -> QueueStatus:
    """Pending messages per queue, outbox backlog, recent failures, workers with their active tasks."""
    depths = queue_depths()
    workers = _workers() if depths is not None else []
    return QueueStatus(depths, outbox_backlog(), store.failed(FAILED_SHOWN), workers)


def queue_depths() -> dict[str, int] | None:
    """Messages waiting in each queue (reserved and running ones are not counted); None if unreachable.

    Bounded by the broker's socket timeouts (about a second when Redis hangs).
    """
    try:
        with current_app.connection_for_read() as connection:
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
        active = current_app.control.inspect(timeout=INSPECT_TIMEOUT_SECONDS).active() or {}
    except Exception as exc:  # the broker went away between the two calls
        log.warning("queue status: workers could not be inspected: %s", exc)
        return []
    return [
        {"name": worker, "active": [{"id": task["id"], "name": task["name"]} for task in tasks]}
        for worker, tasks in sorted(active.items())
    ]


def outbox_backlog() -> dict[str, Any]:
    """Outbox rows not done yet, by state, and the age in seconds of the oldest pending one (None if none)."""
    return store.backlog(utcnow())
