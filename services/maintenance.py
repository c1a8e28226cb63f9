"""What beat runs: the outbox relay (``services.outbox.relay``) and the daily purge."""

from __future__ import annotations

import logging
from datetime import timedelta

from models.db import utcnow
from store import maintenance as store

log = logging.getLogger("cairn.maintenance")

DONE_OUTBOX_RETENTION = timedelta(days=7)
FAILED_OUTBOX_RETENTION = timedelta(days=30)  # long enough for someone to look at them
THROTTLE_RETENTION = timedelta(days=1)  # far beyond the lockout window


def purge_expired() -> dict[str, int]:
    """Delete what can never be used again; the number of rows deleted per table. Audit rows are kept."""
    purged = store.purge_expired(
        utcnow(),
        throttles_after=THROTTLE_RETENTION,
        done_after=DONE_OUTBOX_RETENTION,
        failed_after=FAILED_OUTBOX_RETENTION,
    )
    log.info("purged expired rows", extra={"purged": purged})
    return purged
