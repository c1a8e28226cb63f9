"""`/api/v1/projects/{projectId}/milestones` over HTTP."""

from __future__ import annotations

import uuid

import pytest

from tests.api.test_projects import add_milestone, create, error_of
from tests.services.test_projects_service import MILESTONE_KEYS, expected_order, seed_milestones

BASE = "/api/v1/projects"


@pytest.fixture
def project(client, owner):
    return create(client, owner[1], name="Summit")


def test_crud_round_trip(client, owner, project):
    _, headers = owner
    url = f"{BASE}/{project['id']}/milestones"
    response = client.post(
        url, json={"title": " Scout ", "dueDate": "2026-12-15", "description": "Gear\tlist"}, headers=headers
    )
    assert response.status_code == 201
    created = response.json()
    assert response.headers["location"] == f"{url}/{created['id']}"
    assert created == {
        **created,
        "projectId": project["id"],
        "title": "Scout",
        "dueDate": "2026-12-15",
        "description": "Gear\tlist",
        "status": "open",
        "updatedAt": created["createdAt"],
    }
    assert client.get(response.headers["location"], headers=headers).json() == created

    changed = client.patch(f"{url}/{created['id']}", json={"dueDate": None, "status": "done"}, headers=headers)
    assert changed.status_code == 200
    body = changed.json()
    assert (body["dueDate"], body["status"], body["title"], body["description"]) == (
        None,
        "done",
        "Scout",
        "Gear\tlist",
    )
    assert body["updatedAt"] > created["updatedAt"]
    cleared = client.patch(f"{url}/{created['id']}", json={"description": None}, headers=headers).json()
    assert cleared["description"] is None

    deleted = client.delete(f"{url}/{created['id']}", headers=headers)
    assert (deleted.status_code, deleted.content) == (204, b"")
    for method in ("GET", "PATCH", "DELETE"):
        error_of(
            client.request(method, f"{url}/{created['id']}", json={"title": "x"}, headers=headers), 404, "NOT_FOUND"
        )
    assert client.get(url, headers=headers).json()["meta"]["total"] == 0
    assert client.get(f"{BASE}/{project['id']}", headers=headers).json()["milestones"] == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": "  "},
        {"title": "x" * 256},
        {"title": "ok", "dueDate": "2026-02-30"},
        {"title": "ok", "dueDate": "2026-13-01"},
        {"title": "ok", "dueDate": "15/12/2026"},
        {"title": "ok", "dueDate": "2026-12-15T00:00:00Z"},
        {"title": "ok", "status": "active"},
        {"title": "ok", "projectId": str(uuid.uuid4())},
    ],
)
def test_create_rejects_invalid_bodies(client, owner, project, body):
    _, headers = owner
    response = client.post(f"{BASE}/{project['id']}/milestones", json=body, headers=headers)
    assert error_of(response, 400, "VALIDATION_ERROR")["details"]


def test_patch_needs_a_field_and_a_real_date(client, owner, project):
    _, headers = owner
    milestone = add_milestone(client, headers, project["id"])
    url = f"{BASE}/{project['id']}/milestones/{milestone['id']}"
    error_of(client.patch(url, json={}, headers=headers), 400, "VALIDATION_ERROR")
    error = error_of(client.patch(url, json={"dueDate": "2027-02-29"}, headers=headers), 400, "VALIDATION_ERROR")
    assert error["details"][0]["field"] == "body.dueDate"
    assert client.get(url, headers=headers).json() == milestone


def test_default_order_is_due_date_with_undated_last(client, owner, project):
    _, headers = owner
    undated = add_milestone(client, headers, project["id"], title="undated")
    late = add_milestone(client, headers, project["id"], title="late", dueDate="2027-05-01")
    early = add_milestone(client, headers, project["id"], title="early", dueDate="2026-05-01")
    url = f"{BASE}/{project['id']}/milestones"
    ascending = [m["id"] for m in client.get(url, headers=headers).json()["data"]]
    assert ascending == [early["id"], late["id"], undated["id"]]
    descending = [m["id"] for m in client.get(f"{url}?sort=-dueDate", headers=headers).json()["data"]]
    assert descending == [late["id"], early["id"], undated["id"]]


@pytest.mark.parametrize("sort", [f"{sign}{key}" for key in MILESTONE_KEYS for sign in ("", "-")])
def test_walking_the_pages_returns_every_milestone_once(client, owner, project, sort):
    _, headers = owner
    rows = seed_milestones(project["id"], 10)
    url = f"{BASE}/{project['id']}/milestones"
    ids, page = [], 1
    while data := client.get(url, params={"sort": sort, "limit": 3, "page": page}, headers=headers).json()["data"]:
        ids += [m["id"] for m in data]
        page += 1
    assert page == 5
    key = sort.lstrip("-")
    assert ids == expected_order(rows, MILESTONE_KEYS[key], sort.startswith("-"), nulls_last=key == "dueDate")


def test_status_filter_and_bad_parameters(client, owner, project):
    _, headers = owner
    add_milestone(client, headers, project["id"], title="open one")
    done = add_milestone(client, headers, project["id"], title="done one", status="done")
    url = f"{BASE}/{project['id']}/milestones"
    assert [m["id"] for m in client.get(f"{url}?status=done", headers=headers).json()["data"]] == [done["id"]]
    for query in ("status=active", "limit=101", "page=10001", "sort=name", "search=x"):
        error_of(client.get(f"{url}?{query}", headers=headers), 400, "VALIDATION_ERROR")
    past = client.get(f"{url}?page=3&limit=1", headers=headers).json()
    assert past == {"data": [], "meta": {"total": 2, "page": 3, "limit": 1, "totalPages": 2, "nextCursor": None}}


def test_milestone_is_only_reachable_through_its_own_project(client, owner, project):
    _, headers = owner
    milestone = add_milestone(client, headers, project["id"])
    other = create(client, headers, name="Other")
    url = f"{BASE}/{other['id']}/milestones/{milestone['id']}"
    for method in ("GET", "PATCH", "DELETE"):
        error_of(client.request(method, url, json={"title": "moved"}, headers=headers), 404, "NOT_FOUND")
    assert client.get(f"{BASE}/{project['id']}/milestones/{milestone['id']}", headers=headers).json() == milestone


def test_milestones_of_a_deleted_project_are_404(client, owner, project):
    _, headers = owner
    milestone = add_milestone(client, headers, project["id"])
    assert client.delete(f"{BASE}/{project['id']}?cascade=true", headers=headers).status_code == 204
    url = f"{BASE}/{project['id']}/milestones"
    error_of(client.get(url, headers=headers), 404, "NOT_FOUND")
    error_of(client.post(url, json={"title": "late"}, headers=headers), 404, "NOT_FOUND")
    for method in ("GET", "PATCH", "DELETE"):
        error_of(
            client.request(method, f"{url}/{milestone['id']}", json={"title": "x"}, headers=headers), 404, "NOT_FOUND"
        )
