"""`Idempotency-Key` on the two creates over HTTP (issue 25): replay, mismatch, in progress, errors
not kept, keys per user, the header's rules. Concurrency, leases and the purge are proven on the
service in tests/services/test_idempotency_service.py."""

from __future__ import annotations

import pytest

from models import IdempotencyKey, Milestone, Project
from services import idempotency

PROJECTS = "/api/v1/projects"
BODY = {"name": "Summit route survey", "description": "Map the north ridge."}


def keyed(headers: dict, key: str) -> dict:
    return {**headers, "Idempotency-Key": key}


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    return response.json()["error"]


def milestones_of(project_id: str) -> str:
    return f"{PROJECTS}/{project_id}/milestones"


@pytest.fixture
def project(client, owner) -> dict:
    _, headers = owner
    return client.post(PROJECTS, json={"name": "Base"}, headers=headers).json()


def test_a_retry_with_the_key_replays_the_first_answer_and_creates_nothing(client, owner):
    _, headers = owner
    first = client.post(PROJECTS, json=BODY, headers=keyed(headers, "retry-1"))
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    again = client.post(PROJECTS, json=BODY, headers=keyed(headers, "retry-1"))
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert Project.select().count() == 1


def test_the_same_key_with_another_body_is_422(client, owner):
    _, headers = owner
    client.post(PROJECTS, json=BODY, headers=keyed(headers, "retry-1"))
    response = client.post(PROJECTS, json={**BODY, "status": "inactive"}, headers=keyed(headers, "retry-1"))
    error_of(response, 422, "IDEMPOTENCY_KEY_MISMATCH")
    assert Project.select().count() == 1


def test_the_same_key_while_the_first_request_runs_is_409_with_retry_after(client, owner):
    user, headers = owner
    # What a request still creating under the key has committed so far: its claim.
    idempotency.claim(user.id, "create_project", "busy", idempotency.fingerprint({"body": BODY}))
    response = client.post(PROJECTS, json=BODY, headers=keyed(headers, "busy"))
    error_of(response, 409, "IDEMPOTENCY_CONFLICT")
    assert response.headers["retry-after"] == "1"
    assert Project.select().count() == 0


def test_an_error_is_not_kept_and_the_fixed_request_may_reuse_the_key(client, owner, project):
    _, headers = owner
    bad_date = {"title": "Scout", "dueDate": "2026-02-30"}  # schema-valid, not a calendar date
    error_of(
        client.post(milestones_of(project["id"]), json=bad_date, headers=keyed(headers, "m-1")), 400, "VALIDATION_ERROR"
    )
    assert IdempotencyKey.select().count() == 0
    fixed = client.post(
        milestones_of(project["id"]), json={**bad_date, "dueDate": "2026-02-28"}, headers=keyed(headers, "m-1")
    )
    assert fixed.status_code == 201, fixed.text
    assert "idempotent-replayed" not in fixed.headers
    assert Milestone.select().count() == 1


def test_a_404_is_not_kept_either(client, owner):
    _, headers = owner
    missing = milestones_of("6c0d8e2f-4a1b-4c3d-9e5f-7a8b9c0d1e2f")
    error_of(client.post(missing, json={"title": "M"}, headers=keyed(headers, "m-1")), 404, "NOT_FOUND")
    assert IdempotencyKey.select().count() == 0


def test_another_users_identical_key_is_another_key(client, owner, accounts):
    _, headers = owner
    other = accounts.headers_for(accounts.create())
    mine = client.post(PROJECTS, json=BODY, headers=keyed(headers, "shared"))
    theirs = client.post(PROJECTS, json=BODY, headers=keyed(other, "shared"))
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
    assert Project.select().count() == 2


def test_a_milestone_key_covers_its_project_and_is_scoped_to_the_operation(client, owner, project):
    _, headers = owner
    other = client.post(PROJECTS, json={"name": "Other"}, headers=headers).json()
    body = {"title": "Scout the approach"}
    first = client.post(milestones_of(project["id"]), json=body, headers=keyed(headers, "k"))
    replay = client.post(milestones_of(project["id"].upper()), json=body, headers=keyed(headers, "k"))
    assert (first.status_code, replay.status_code, replay.headers["idempotent-replayed"]) == (201, 201, "true")
    assert replay.headers["location"] == first.headers["location"]
    error_of(
        client.post(milestones_of(other["id"]), json=body, headers=keyed(headers, "k")), 422, "IDEMPOTENCY_KEY_MISMATCH"
    )
    # The same key on the other create is another key (its scope is the operation).
    assert client.post(PROJECTS, json={"name": "Third"}, headers=keyed(headers, "k")).status_code == 201
    assert Milestone.select().count() == 1


def test_the_replay_is_the_first_answer_even_after_the_project_changed(client, owner):
    _, headers = owner
    first = client.post(PROJECTS, json=BODY, headers=keyed(headers, "k")).json()
    client.patch(f"{PROJECTS}/{first['id']}", json={"name": "Renamed"}, headers=headers)
    assert client.post(PROJECTS, json=BODY, headers=keyed(headers, "k")).json() == first


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "must not be empty"),
        ("k" * 256, "must be at most 255 characters"),
        ("has space", "must be 1 to 255 printable ASCII characters, without spaces"),
        ("tab\there", "must be 1 to 255 printable ASCII characters, without spaces"),
    ],
)
def test_a_malformed_key_is_400_naming_the_header(client, owner, key, message):
    _, headers = owner
    error = error_of(client.post(PROJECTS, json=BODY, headers=keyed(headers, key)), 400, "VALIDATION_ERROR")
    assert {"field": "header.Idempotency-Key", "message": message} in error["details"]
    assert Project.select().count() == 0


@pytest.mark.parametrize("key", ["a", "k" * 255, "!#$%&'*+-.^_`|~", "4f1c2b9e-8d3a-4e6f-b7a0-5c9d1e2f3a4b"])
def test_keys_of_1_to_255_printable_characters_are_accepted(client, owner, key):
    _, headers = owner
    assert client.post(PROJECTS, json=BODY, headers=keyed(headers, key)).status_code == 201
    assert IdempotencyKey.get().key == key
