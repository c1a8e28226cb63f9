"""The outbox and the tasks it drives, at the service level (a recording broker, tasks run in-process).

What must hold: nothing is sent before commit or after a rollback; a dead broker costs one
attempt and leaves rows for the relay; relays never send a row twice, even run at once;
a delivery is idempotent by the row; transient failures retry, then fail visibly; the purge
deletes only what can never be used again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from celery import current_app as celery
from kombu.exceptions import OperationalError as BrokerUnreachable

from models import AuditLog, LoginThrottle, OneTimeToken, OutboxMessage, RefreshToken, Session, db
from models.db import utcnow
from services import audit, outbox


class RecordingBroker:
    """Stands in for ``_task(name).apply_async``: records every message, or fails like a dead broker."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.down = False
        self.attempts = 0
        self._lock = threading.Lock()

    def __call__(self, name: str) -> RecordingBroker:
        self.name = name
        return self

    def apply_async(self, args, queue, headers, retry) -> None:
        with self._lock:
            self.attempts += 1
            if self.down:
                raise BrokerUnreachable("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
            self.sent.append({"id": args[0], "queue": queue, "headers": headers, "retry": retry})

    def ids(self) -> list[str]:
        return [message["id"] for message in self.sent]


@pytest.fixture
def eager_tasks() -> Iterator[Callable[[bool], None]]:
    """Switch ``task_always_eager`` for one test (the in-process app turns it on for the session)."""
    before = celery.conf.task_always_eager

    def switch(on: bool) -> None:
        celery.conf.task_always_eager = on

    yield switch
    celery.conf.task_always_eager = before


@pytest.fixture
def broker(clean_db, eager_tasks, monkeypatch: pytest.MonkeyPatch) -> RecordingBroker:
    fake = RecordingBroker()
    eager_tasks(False)
    monkeypatch.setattr(outbox, "_task", fake)
    monkeypatch.setattr(outbox, "_broker_down_until", 0.0)
    return fake


def queue_event(action: str = "auth.logout") -> OutboxMessage:
    with db.atomic():
        audit.record(action)
    return OutboxMessage.select().order_by(OutboxMessage.created_at.desc()).first()


def state_of(message_id) -> str:
    return OutboxMessage.get_by_id(message_id).state


def expire_lease(message_id) -> None:
    OutboxMessage.update(lease_until=utcnow() - timedelta(seconds=1)).where(OutboxMessage.id == message_id).execute()


# Publishing


def test_published_after_commit_never_before(broker):
    with db.atomic():
        audit.record("auth.logout")
        assert broker.sent == []
    (row,) = OutboxMessage.select()
    assert broker.ids() == [str(row.id)]
    assert broker.sent[0]["queue"] == "audit"
    assert broker.sent[0]["retry"] is False  # bounded by the socket timeouts, never retried in the request
    assert row.state == "dispatched"


def record_then_fail(action: str) -> None:
    with db.atomic():
        audit.record(action)
        raise RuntimeError("the use case failed")


def test_rolled_back_transaction_sends_nothing(broker):
    with pytest.raises(RuntimeError):
        record_then_fail("auth.logout")
    assert OutboxMessage.select().count() == 0
    assert broker.attempts == 0
    assert outbox.relay() == 0


def test_rolled_back_savepoint_sends_only_the_rest(broker):
    with db.atomic():
        audit.record("auth.logout")
        with pytest.raises(RuntimeError):
            record_then_fail("user.deleted")  # a savepoint, rolled back
    (kept,) = OutboxMessage.select()
    assert '"auth.logout"' in kept.payload
    # peewee runs a rolled-back savepoint's after-commit callbacks too, so the lost row's id may
    # be published: its task finds no row to claim and does nothing.
    assert str(kept.id) in broker.ids()
    for lost in set(broker.ids()) - {str(kept.id)}:
        assert outbox.claim(lost, "delivery-1") is None


def test_outside_a_transaction_it_is_sent_at_once(broker):
    audit.record("auth.logout")
    assert len(broker.sent) == 1


def test_request_id_travels_in_the_message_headers(broker):
    from core.logs import request_id_var

    token = request_id_var.set("req-abc")
    try:
        message = queue_event()
    finally:
        request_id_var.reset(token)
    assert message.request_id == "req-abc"
    assert broker.sent[0]["headers"] == {"request_id": "req-abc"}


def test_dead_broker_leaves_rows_pending_and_costs_one_attempt(broker):
    broker.down = True
    first, second = queue_event(), queue_event()
    assert state_of(first.id) == state_of(second.id) == "pending"
    assert broker.attempts == 1  # the cool-down spares the second request the broker's timeout


def test_relay_delivers_everything_once_when_the_broker_is_back(broker, monkeypatch):
    broker.down = True
    messages = [queue_event() for _ in range(3)]
    assert outbox.relay() == 0  # still down (and cooling down): nothing is lost, nothing sent
    broker.down = False
    monkeypatch.setattr(outbox, "_broker_down_until", 0.0)
    assert outbox.relay() == 3
    assert outbox.relay() == 0
    assert sorted(broker.ids()) == sorted(str(m.id) for m in messages)
    assert {state_of(m.id) for m in messages} == {"dispatched"}


def test_relay_stops_at_the_first_broker_failure(broker, monkeypatch):
    broker.down = True
    for _ in range(5):
        queue_event()
    monkeypatch.setattr(outbox, "_broker_down_until", 0.0)
    broker.attempts = 0
    assert outbox.relay() == 0
    assert broker.attempts == 1  # one timeout per run, not one per row
    assert OutboxMessage.select().where(OutboxMessage.state == "pending").count() == 5


def test_relay_resends_a_row_only_when_its_lease_ran_out(broker):
    message = queue_event()
    assert outbox.relay() == 0  # dispatched, lease running: the worker has it
    expire_lease(message.id)
    assert outbox.relay() == 1
    assert broker.ids() == [str(message.id)] * 2


def test_relay_leaves_finished_rows_alone(broker):
    done, failed = queue_event(), queue_event()
    outbox.complete(done.id)
    outbox.give_up(failed.id, "SMTPServerDisconnected()")
    OutboxMessage.update(lease_until=utcnow() - timedelta(hours=1)).execute()
    assert outbox.relay() == 0


def test_concurrent_relays_never_send_a_row_twice(broker):
    broker.down = True
    expected = {str(queue_event().id) for _ in range(40)}
    broker.down = False
    outbox._broker_down_until = 0.0
    db.close()
    errors: list[BaseException] = []

    def run_relays() -> None:
        try:
            with db.connection_context():
                while outbox.relay(limit=3):
                    pass
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run_relays) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(broker.ids()) == sorted(expected)


def test_publish_never_raises_after_commit(broker, monkeypatch):
    def broken_update(*_args, **_kwargs):
        raise RuntimeError("database went away after the commit")

    broker.down = True
    monkeypatch.setattr(OutboxMessage, "update", broken_update)
    audit.record("auth.logout")  # committed; neither the broker nor the database answers now
    assert broker.sent == []
    (row,) = OutboxMessage.select()
    assert row.state == "dispatched"  # as born: when its lease runs out the relay sends it


def test_a_row_is_born_dispatched_and_published_without_a_second_write(broker, monkeypatch):
    writes = []
    update = OutboxMessage.update
    monkeypatch.setattr(OutboxMessage, "update", lambda *a, **k: writes.append(a) or update(*a, **k))
    message = queue_event()
    assert broker.ids() == [str(message.id)]
    assert writes == []
    assert message.state == "dispatched"
    assert message.lease_until > utcnow()
    assert outbox.relay() == 0  # not due while the lease runs


# Claims


def test_a_row_is_claimed_by_one_delivery_at_a_time(broker):
    message = queue_event()
    assert outbox.claim(message.id, "delivery-1") is not None
    assert outbox.claim(message.id, "delivery-2") is None


def test_a_redelivery_of_the_same_message_takes_the_row_back(broker):
    message = queue_event()
    outbox.claim(message.id, "delivery-1")  # then the worker running it died
    again = outbox.claim(message.id, "delivery-1")
    assert again is not None
    assert again.attempts == 2


def test_a_claim_whose_lease_ran_out_can_be_taken_over(broker):
    message = queue_event()
    outbox.claim(message.id, "delivery-1")
    expire_lease(message.id)
    assert outbox.claim(message.id, "delivery-2").claimed_by == "delivery-2"


def test_done_rows_are_never_claimed_again(broker):
    message = queue_event()
    outbox.claim(message.id, "delivery-1")
    outbox.complete(message.id)
    assert outbox.claim(message.id, "delivery-1") is None


def test_a_row_out_of_attempts_fails_visibly(broker):
    message = queue_event()
    OutboxMessage.update(attempts=outbox.MAX_ATTEMPTS).where(OutboxMessage.id == message.id).execute()
    assert outbox.claim(message.id, "delivery-9") is None
    row = OutboxMessage.get_by_id(message.id)
    assert (row.state, row.last_error) == ("failed", f"gave up after {outbox.MAX_ATTEMPTS} attempts")


# The audit task, run in-process


def test_audit_task_writes_one_row_however_often_delivered(broker):
    from tasks.audit import write_audit_log

    message = queue_event("user.deleted")
    results = [write_audit_log.apply(args=[str(message.id)], task_id=f"delivery-{n}").get() for n in range(3)]
    assert results == ["done", "skipped", "skipped"]
    (row,) = AuditLog.select()
    assert (row.action, str(row.outbox_id)) == ("user.deleted", str(message.id))
    assert state_of(message.id) == "done"


def test_audit_task_redelivered_after_a_crash_writes_once(broker):
    from tasks.audit import write_audit_log

    message = queue_event()
    outbox.claim(message.id, "delivery-1")  # the first run died after claiming
    assert write_audit_log.apply(args=[str(message.id)], task_id="delivery-1").get() == "done"
    assert AuditLog.select().count() == 1


def test_transient_failures_retry_then_succeed(broker, monkeypatch):
    import tasks.audit

    real_write, failures = tasks.audit._write, []

    def flaky(message):
        if len(failures) < 2:
            failures.append(1)
            raise ConnectionError("database connection reset")
        real_write(message)

    monkeypatch.setattr(tasks.audit, "_write", flaky)
    message = queue_event()
    result = tasks.audit.write_audit_log.apply(args=[str(message.id)])
    assert result.get() == "done"
    row = OutboxMessage.get_by_id(message.id)
    assert (row.state, row.attempts, row.last_error) == ("done", 3, None)
    assert AuditLog.select().count() == 1


def test_retries_run_out_into_the_failed_state(broker, monkeypatch):
    import tasks.audit

    def always_down(_message):
        raise ConnectionError("database connection reset")

    monkeypatch.setattr(tasks.audit, "_write", always_down)
    message = queue_event()
    result = tasks.audit.write_audit_log.apply(args=[str(message.id)])
    assert result.failed()
    row = OutboxMessage.get_by_id(message.id)
    assert (row.state, row.attempts) == ("failed", outbox.MAX_ATTEMPTS)
    assert "ConnectionError" in row.last_error
    assert AuditLog.select().count() == 0


def test_a_permanent_error_fails_at_once(broker, monkeypatch):
    import tasks.audit

    def broken(_message):
        raise KeyError("actorId")

    monkeypatch.setattr(tasks.audit, "_write", broken)
    message = queue_event()
    tasks.audit.write_audit_log.apply(args=[str(message.id)])
    row = OutboxMessage.get_by_id(message.id)
    assert (row.state, row.attempts) == ("failed", 1)
    assert "KeyError" in row.last_error


def test_eager_mode_runs_the_task_inline_and_surfaces_its_errors(clean_db, eager_tasks, monkeypatch):
    import tasks.audit

    eager_tasks(True)
    audit.record("auth.logout")
    assert AuditLog.select().count() == 1

    monkeypatch.setattr(tasks.audit, "_write", lambda _message: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        audit.record("auth.logout")


# The relay task and the purge


def test_relay_task_publishes_what_is_due(broker):
    from tasks.maintenance import relay_outbox

    broker.down = True
    message = queue_event()
    broker.down = False
    outbox._broker_down_until = 0.0
    assert relay_outbox.apply().get() == 1
    assert broker.ids() == [str(message.id)]


def test_purge_deletes_only_what_can_never_be_used_again(accounts):
    from tasks.maintenance import purge_expired

    now = utcnow()
    user = accounts.create()
    expired = Session.create(user=user, expires_at=now - timedelta(minutes=1))
    RefreshToken.create(session=expired, token_hash="a" * 64)
    live = Session.create(user=user, expires_at=now + timedelta(days=1), revoked_at=None)
    RefreshToken.create(session=live, token_hash="b" * 64)
    for n, (expires_in, used_at) in enumerate([(-1, None), (60, now), (60, None)]):
        expires_at = now + timedelta(minutes=expires_in)
        OneTimeToken.create(
            user=user, purpose="verify_email", token_hash=str(n) * 64, expires_at=expires_at, used_at=used_at
        )
    two_days_ago = now - timedelta(days=2)
    LoginThrottle.create(email="old@example.com", window_started_at=two_days_ago)
    LoginThrottle.create(
        email="locked@example.com", window_started_at=two_days_ago, locked_until=now + timedelta(minutes=5)
    )
    LoginThrottle.create(email="recent@example.com", window_started_at=now - timedelta(minutes=5))
    ages = {
        "old done": ("done", 8),
        "recent done": ("done", 1),
        "old failed": ("failed", 31),
        "recent failed": ("failed", 8),
    }
    rows = {
        name: OutboxMessage.create(
            task="t", queue="audit", payload="{}", state=state, finished_at=now - timedelta(days=days)
        )
        for name, (state, days) in ages.items()
    }

    purged = purge_expired.apply().get()

    assert purged == {"sessions": 1, "one_time_tokens": 1, "login_throttles": 1, "outbox": 2, "idempotency_keys": 0}
    assert [s.id for s in Session.select()] == [live.id]
    assert [t.token_hash for t in RefreshToken.select()] == ["b" * 64]
    # A used token stays until it expires (services.one_time_tokens re-derives tokens on a re-send).
    assert sorted(t.token_hash for t in OneTimeToken.select()) == ["1" * 64, "2" * 64]
    assert sorted(t.email for t in LoginThrottle.select()) == ["locked@example.com", "recent@example.com"]
    kept = {m.id for m in OutboxMessage.select()}
    assert kept == {rows["recent done"].id, rows["recent failed"].id}
