"""Celery tasks on the ``maintenance`` queue, run by beat (see ``celery_app._beat_schedule``)."""

from __future__ import annotations

import logging

from celery import shared_task

from services import maintenance, outbox

log = logging.getLogger("cairn.tasks.maintenance")


@shared_task(name="tasks.maintenance.relay_outbox", acks_late=False)
def relay_outbox() -> int:
    """Publish outbox rows the API could not (broker down, crash after commit) or whose lease ran out.

    Several runs at once take disjoint rows. Not ``acks_late``: a lost run is replaced by the next one.
    """
    published = outbox.relay()
    if published:
        log.info("outbox relay published %d message(s)", published)
    return published


@shared_task(name="tasks.maintenance.purge_expired", acks_late=False)
def purge_expired() -> dict[str, int]:
    """Delete what can never be used again; returns the number of rows deleted per table."""
    return maintenance.purge_expired()
