"""Celery tasks on the ``maintenance`` queue, run by beat (see ``celery_app._beat_schedule``)."""

from __future__ import annotations

import logging
from datetime import timedelta

from peewee import ModelSelect

from celery_app import celery
from models import LoginThrottle, OneTimeToken, OutboxMessage, Session
from models.db import utcnow
from services import outbox

log = logging.getLogger("cairn.tasks.maintenance")

PURGE_BATCH = 1000
DONE_OUTBOX_RETENTION = timedelta(days=7)
FAILED_OUTBOX_RETENTION = timedelta(days=30)  # long enough for someone to look at them
THROTTLE_RETENTION = timedelta(days=1)  # far beyond the lockout window


@celery.task(name="tasks.maintenance.relay_outbox", acks_late=False)
def relay_outbox() -> int:
    """Publish outbox rows the API could not (broker down, crash after commit) or whose lease ran out.

    Several runs at once take disjoint rows. Not ``acks_late``: a lost run is replaced by the next one.
    """
    published = outbox.relay()
    if published:
        log.info("outbox relay published %d message(s)", published)
    return published


@celery.task(name="tasks.maintenance.purge_expired", acks_late=False)
def purge_expired() -> dict[str, int]:
    """Delete what can never be used again; returns the number of rows deleted per table.

    Expired sessions (their refresh tokens go with them, ON DELETE CASCADE), expired
    one-time tokens, login throttles with no live window or lock, and outbox rows finished
    long ago. Audit rows are kept.
    """
    now = utcnow()
    purged = {
        "sessions": _delete(Session.select(Session.id).where(Session.expires_at < now)),
        # Used tokens stay until they expire: a link's token is derived from its outbox row and
        # stored insert-if-absent, so a re-sent email after a purge would bring a used one back.
        "one_time_tokens": _delete(OneTimeToken.select(OneTimeToken.id).where(OneTimeToken.expires_at < now)),
        "login_throttles": _delete(
            LoginThrottle.select(LoginThrottle.id).where(
                (LoginThrottle.window_started_at < now - THROTTLE_RETENTION)
                & (LoginThrottle.locked_until.is_null() | (LoginThrottle.locked_until < now))
            )
        ),
        "outbox": _delete(
            OutboxMessage.select(OutboxMessage.id).where(
                ((OutboxMessage.state == "done") & (OutboxMessage.finished_at < now - DONE_OUTBOX_RETENTION))
                | ((OutboxMessage.state == "failed") & (OutboxMessage.finished_at < now - FAILED_OUTBOX_RETENTION))
            )
        ),
    }
    log.info("purged expired rows", extra={"purged": purged})
    return purged


def _delete(ids: ModelSelect) -> int:
    """Delete the rows ``ids`` selects, a batch per statement (short locks on big tables)."""
    model = ids.model
    deleted = 0
    while True:
        batch = [row.id for row in ids.limit(PURGE_BATCH)]
        if not batch:
            return deleted
        removed = model.delete().where(model.id.in_(batch)).execute()
        if not removed:  # nothing deletable left (never loop on rows something keeps alive)
            return deleted
        deleted += removed
