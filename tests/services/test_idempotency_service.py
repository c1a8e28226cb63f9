"""Idempotency keys, called directly (services/idempotency.py): exactly one create per key under
any concurrency, ``in progress`` seen as such, a dead request's lease taken over without ever
making a second project, expiry and the purge. The HTTP rules are in tests/api/test_idempotency.py."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from core.errors import IdempotencyKeyInUse, IdempotencyKeyMismatch, NotFound
from models import IdempotencyKey, Project
from services import idempotency, projects
from services.idempotency import LEASE, RETENTION, StoredResponse
from tests.concurrency import at_once

BODY = {"name": "Summit route survey"}
OPERATION = "create_project"


@pytest.fixture(autouse=True)
def _configured(app):
    """The app binds the database and configures Celery."""


@pytest.fixture
def owner(accounts):
    return accounts.create()


class Clock:
    def __init__(self) -> None:
        self.now = idempotency.utcnow()

    def __call__(self):
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(idempotency, "clock", fake)
    return fake


def creating(user, body: dict = BODY, before=None):
    """The work a create handler hands ``once``: create the project, answer 201 with it."""

    def work() -> StoredResponse:
        if before is not None:
            before()
        project = projects.create_project(user.id, body)
        return StoredResponse(
            201, {"id": str(project.id), "name": project.name}, {"Location": f"/api/v1/projects/{project.id}"}
        )

    return work


def create_once(user, key: str | None = "key-1", body: dict = BODY, before=None) -> idempotency.Once:
    return idempotency.once(user.id, OPERATION, key, {"body": body}, creating(user, body, before))


def test_the_first_request_creates_and_keeps_its_response_for_24_hours(owner, clock):
    first = create_once(owner)
    assert not first.replayed
    row = IdempotencyKey.get()
    assert (row.state, row.response_status) == ("done", 201)
    assert json.loads(row.response_headers) == first.response.headers
    assert row.expires_at == clock.now + RETENTION
    assert (row.claim_id, row.locked_until) == (None, None)


def test_the_same_key_and_request_replays_and_creates_nothing(owner):
    first = create_once(owner)
    again = create_once(owner)
    assert again == (first.response, True)
    assert Project.select().count() == 1


def test_no_key_no_record(owner):
    create_once(owner, key=None)
    create_once(owner, key=None)
    assert Project.select().count() == 2
    assert IdempotencyKey.select().count() == 0


def test_the_fingerprint_is_canonical_json_of_the_whole_request():
    assert idempotency.fingerprint({"b": 1, "a": "é"}) == idempotency.fingerprint({"a": "é", "b": 1})
    assert idempotency.fingerprint({"body": BODY}) != idempotency.fingerprint({"body": BODY, "projectId": "x"})
    assert len(idempotency.fingerprint({})) == 64


def test_many_requests_with_one_key_at_once_create_exactly_one_project(owner):
    """Each request overlaps the others' work: one creates, the rest replay it or hear 409."""
    outcomes = at_once(8, lambda: create_once(owner, before=lambda: threading.Event().wait(0.05)))
    assert Project.select().count() == 1
    assert IdempotencyKey.select().count() == 1
    made = [o for o in outcomes if isinstance(o, idempotency.Once)]
    refused = [o for o in outcomes if not isinstance(o, idempotency.Once)]
    assert all(isinstance(o, IdempotencyKeyInUse) and o.retry_after == 1 for o in refused), refused
    assert [o.replayed for o in made].count(False) == 1
    assert all(o.response == made[0].response for o in made)
    assert create_once(owner).replayed  # and afterwards every retry replays


def test_while_the_first_request_runs_the_key_is_in_use(owner):
    working, finish = threading.Event(), threading.Event()
    results: list = []

    def first() -> None:
        try:
            results.append(create_once(owner, before=lambda: (working.set(), finish.wait(10))))
        finally:
            from models import db

            db.close()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert working.wait(10)
        with pytest.raises(IdempotencyKeyInUse) as caught:
            create_once(owner)
        assert caught.value.retry_after == 1
        with pytest.raises(IdempotencyKeyMismatch):  # another body is a mismatch even now
            create_once(owner, body={"name": "Other"})
    finally:
        finish.set()
        thread.join(10)
    assert create_once(owner) == (results[0].response, True)
    assert Project.select().count() == 1


def test_a_failed_create_keeps_nothing_and_the_key_is_free_again(owner):
    def failing() -> StoredResponse:
        projects.create_project(owner.id, BODY)  # rolled back with the error
        raise NotFound("Project")

    with pytest.raises(NotFound):
        idempotency.once(owner.id, OPERATION, "key-1", {"body": BODY}, failing)
    assert (Project.select().count(), IdempotencyKey.select().count()) == (0, 0)
    assert not create_once(owner).replayed


def test_a_non_2xx_result_is_answered_but_not_kept(owner):
    refused = idempotency.once(owner.id, OPERATION, "key-1", {"body": BODY}, lambda: StoredResponse(404, {}))
    assert refused == (StoredResponse(404, {}), False)
    assert IdempotencyKey.select().count() == 0


def test_a_dead_requests_key_is_taken_over_after_its_lease(owner, clock):
    idempotency.claim(owner.id, OPERATION, "key-1", idempotency.fingerprint({"body": BODY}))  # then it died
    with pytest.raises(IdempotencyKeyInUse):
        create_once(owner)
    clock.advance(seconds=LEASE.total_seconds() + 1)
    taken = create_once(owner)
    assert not taken.replayed
    assert Project.select().count() == 1
    assert create_once(owner) == (taken.response, True)


def test_a_request_that_lost_its_lease_makes_no_second_project(owner, clock):
    """Slow, not dead: another request took the key over; the slow one's create rolls back."""
    slow = idempotency.claim(owner.id, OPERATION, "key-1", idempotency.fingerprint({"body": BODY}))
    clock.advance(seconds=LEASE.total_seconds() + 1)
    taken = create_once(owner)
    with pytest.raises(IdempotencyKeyInUse):
        idempotency.run_claimed(slow, creating(owner))
    assert [str(p.id) for p in Project.select()] == [taken.response.body["id"]]
    assert create_once(owner) == (taken.response, True)


def test_after_24_hours_the_key_is_new_again(owner, clock):
    first = create_once(owner)
    clock.advance(hours=24, seconds=1)
    second = create_once(owner, body={"name": "Another"})  # not a mismatch: the old record is gone
    assert not second.replayed
    assert second.response != first.response
    assert Project.select().count() == 2


def test_the_daily_purge_deletes_expired_keys_only(owner, clock):
    from tasks.maintenance import purge_expired

    create_once(owner, key="old")
    idempotency.claim(owner.id, OPERATION, "abandoned", "f" * 64)
    clock.advance(hours=23)
    create_once(owner, key="recent")
    # The purge runs on the real clock: move every key a day and a second into the past.
    for row in IdempotencyKey.select():
        IdempotencyKey.update(expires_at=row.expires_at - timedelta(hours=24, seconds=1)).where(
            IdempotencyKey.id == row.id
        ).execute()

    purged = purge_expired.apply().get()

    assert purged["idempotency_keys"] == 2
    assert [row.key for row in IdempotencyKey.select()] == ["recent"]
