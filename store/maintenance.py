"""The daily purge: what can never be used again, deleted a batch per statement (short locks)."""

from __future__ import annotations

from datetime import datetime, timedelta

from peewee import ModelSelect

from models import IdempotencyKey, LoginThrottle, OneTimeToken, OutboxMessage, Session

PURGE_BATCH = 1000


def purge_expired(now: datetime, *, throttles_after: timedelta, done_after: timedelta, failed_after: timedelta) -> dict:
    """Delete expired sessions (their refresh tokens go with them, ON DELETE CASCADE), expired
    one-time tokens, throttles with no live window or lock, outbox rows finished long ago and
    idempotency keys past their 24 hours (an abandoned in-progress one too);
    the number of rows deleted per table. Audit rows are kept."""
    return {
        "sessions": _delete(Session.select(Session.id).where(Session.expires_at < now)),
        # Used tokens stay until they expire: a link's token is derived from its outbox row and
        # stored insert-if-absent, so a re-sent email after a purge would bring a used one back.
        "one_time_tokens": _delete(OneTimeToken.select(OneTimeToken.id).where(OneTimeToken.expires_at < now)),
        "login_throttles": _delete(
            LoginThrottle.select(LoginThrottle.id).where(
                (LoginThrottle.window_started_at < now - throttles_after)
                & (LoginThrottle.locked_until.is_null() | (LoginThrottle.locked_until < now))
            )
        ),
        "outbox": _delete(
            OutboxMessage.select(OutboxMessage.id).where(
                ((OutboxMessage.state == "done") & (OutboxMessage.finished_at < now - done_after))
                | ((OutboxMessage.state == "failed") & (OutboxMessage.finished_at < now - failed_after))
            )
        ),
        "idempotency_keys": _delete(IdempotencyKey.select(IdempotencyKey.id).where(IdempotencyKey.expires_at < now)),
    }


def _delete(ids: ModelSelect) -> int:
    """Delete the rows ``ids`` selects, a batch per statement."""
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
