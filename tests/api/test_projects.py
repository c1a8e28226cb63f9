"""`/api/v1/projects` over HTTP: statuses, headers and bodies as the contract documents them."""

from __future__ import annotations

import json
import uuid

import pytest

from models import Milestone, OutboxMessage
from tests.services.test_projects_service import PROJECT_KEYS, expected_order, seed_projects

BASE = "/api/v1/projects"


@pytest.fixture
def stranger(accounts):
    user = accounts.create()
    return user, accounts.headers_for(user)


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    return response.json()["error"]


def create(client, headers, **fields) -> dict:
    response = client.post(BASE, json={"name": "Project", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def add_milestone(client, headers, project_id: str, **fields) -> dict:
    response = client.post(f"{BASE}/{project_id}/milestones", json={"title": "M", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_answers_201_with_location_that_get_follows(client, owner):
    _, headers = owner
    response = client.post(BASE, json={"name": "  Summit route ", "description": "North\nridge"}, headers=headers)
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"{BASE}/{body['id']}"
    assert (body["name"], body["description"], body["status"]) == ("Summit route", "North\nridge", "active")
    assert body["createdAt"] == body["updatedAt"]
    fetched = client.get(response.headers["location"], headers=headers)
    assert fetched.status_code == 200
    assert fetched.json() == {**body, "milestones": []}


NOT_BLANK = "must not be blank or contain control characters"  # Title's x-pattern-message
FREE_TEXT = "must not contain control characters other than tab, line feed and carriage return"


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({}, [("body.name", "is required")]),
        ({"name": ""}, [("body.name", "must not be empty"), ("body.name", NOT_BLANK)]),
        ({"name": "   "}, [("body.name", NOT_BLANK)]),
        ({"name": "x" * 256}, [("body.name", "must be at most 255 characters")]),
        ({"name": "tab\tinside"}, [("body.name", NOT_BLANK)]),
        ({"name": "ok", "description": "bell\x07"}, [("body.description", FREE_TEXT)]),
        ({"name": "ok", "description": "d" * 1001}, [("body.description", "must be at most 1000 characters")]),
        ({"name": "ok", "status": "archived"}, [("body.status", "must be one of: active, inactive")]),
        ({"name": "ok", "owner": "someone"}, [("body.owner", "is not a known field")]),
        ({"name": 5}, [("body.name", "must be a string")]),
        ({"name": "ok", "description": 5}, [("body.description", "must be null or a string")]),
    ],
)
def test_create_rejects_invalid_bodies_in_words(client, owner, body, details):
    _, headers = owner
    error = error_of(client.post(BASE, json=body, headers=headers), 400, "VALIDATION_ERROR")
    assert error["details"] == [{"field": field, "message": message} for field, message in details]


def test_every_operation_needs_a_token(client, owner):
    _, headers = owner
    project = create(client, headers)
    path = f"{BASE}/{project['id']}"
    for method, url in [("GET", BASE), ("POST", BASE), ("GET", path), ("PATCH", path), ("DELETE", path)]:
        error_of(client.request(method, url, json={"name": "x"}), 401, "UNAUTHORIZED")


SORTS = "must be one of: name, -name, createdAt, -createdAt, updatedAt, -updatedAt, status, -status"


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("limit=101", "query.limit", "must be at most 100"),
        ("limit=1000", "query.limit", "must be at most 100"),
        ("limit=0", "query.limit", "must be at least 1"),
        ("page=0", "query.page", "must be at least 1"),
        ("page=10001", "query.page", "must be at most 10000"),
        ("page=abc", "query.page", "must be an integer"),
        ("sort=owner", "query.sort", SORTS),
        ("sort=--name", "query.sort", SORTS),
        ("status=archived", "query.status", "must be one of: active, inactive"),
        ("search=" + "x" * 201, "query.search", "must be at most 200 characters"),
        ("search=%00", "query.search", "must not contain control characters"),
        (
            "search=%0A",
            "query.search",
            "must not contain control characters",
        ),  # the newline that separates the fields in search_text
        ("search=a%0A", "query.search", "must not contain control characters"),
        ("colour=red", "query.colour", "unknown parameter"),
    ],
)
def test_list_rejects_bad_parameters_naming_them_in_words(client, owner, query, field, message):
    _, headers = owner
    error = error_of(client.get(f"{BASE}?{query}", headers=headers), 400, "VALIDATION_ERROR")
    assert error["details"] == [{"field": field, "message": message}]


def test_list_defaults_and_page_past_the_end(client, owner):
    user, headers = owner
    seed_projects(user, 3)
    body = client.get(BASE, headers=headers).json()
    assert body["meta"] == {"total": 3, "page": 1, "limit": 20, "totalPages": 1, "nextCursor": None}
    assert len(body["data"]) == 3
    past = client.get(f"{BASE}?page=5&limit=2", headers=headers)
    assert past.status_code == 200
    assert past.json() == {"data": [], "meta": {"total": 3, "page": 5, "limit": 2, "totalPages": 2, "nextCursor": None}}
    assert client.get(f"{BASE}?limit=100&page=10000", headers=headers).status_code == 200


@pytest.mark.parametrize("sort", [f"{sign}{key}" for key in PROJECT_KEYS for sign in ("", "-")])
def test_walking_the_pages_returns_every_project_once(client, owner, sort):
    user, headers = owner
    rows = seed_projects(user, 11)
    ids, page = [], 1
    while body := client.get(BASE, params={"sort": sort, "limit": 3, "page": page}, headers=headers).json()["data"]:
        ids += [p["id"] for p in body]
        page += 1
    assert page == 5
    assert ids == expected_order(rows, PROJECT_KEYS[sort.lstrip("-")], sort.startswith("-"))


@pytest.mark.parametrize(
    ("term", "expected"),
    [("%", ["50% off"]), ("_", ["under_score"]), ("\\", ["back\\slash"]), ("% OFF", ["50% off"]), ("note", ["plain"])],
)
def test_search_matches_literally_and_ignores_case(client, owner, term, expected):
    _, headers = owner
    for name in ("50% off", "50 off", "under_score", "underXscore", "back\\slash", "backslash"):
        create(client, headers, name=name)
    create(client, headers, name="plain", description="A NOTE in the description")
    body = client.get(BASE, params={"search": term}, headers=headers).json()
    assert [p["name"] for p in body["data"]] == expected
    assert body["meta"]["total"] == len(expected)


def test_status_filter(client, owner):
    _, headers = owner
    create(client, headers, name="on")
    off = create(client, headers, name="off", status="inactive")
    body = client.get(f"{BASE}?status=inactive", headers=headers).json()
    assert [p["id"] for p in body["data"]] == [off["id"]]


def test_patch_semantics(client, owner):
    _, headers = owner
    project = create(client, headers, name="Hut", description="Roof")
    add_milestone(client, headers, project["id"], title="Order timber")
    url = f"{BASE}/{project['id']}"

    cleared = client.patch(url, json={"description": None}, headers=headers)
    assert cleared.status_code == 200
    body = cleared.json()
    assert (body["description"], body["name"], body["status"]) == (None, "Hut", "active")
    assert body["updatedAt"] > project["updatedAt"]
    assert [m["title"] for m in body["milestones"]] == ["Order timber"]

    renamed = client.patch(url, json={"name": " Hut 2 ", "status": "inactive"}, headers=headers).json()
    assert (renamed["name"], renamed["status"], renamed["description"]) == ("Hut 2", "inactive", None)
    assert client.get(url, headers=headers).json() == renamed

    error_of(client.patch(url, json={}, headers=headers), 400, "VALIDATION_ERROR")
    error_of(client.patch(url, json={"name": " "}, headers=headers), 400, "VALIDATION_ERROR")
    error_of(client.patch(url, json={"name": None}, headers=headers), 400, "VALIDATION_ERROR")
    error_of(client.patch(url, json={"id": str(uuid.uuid4())}, headers=headers), 400, "VALIDATION_ERROR")
    error_of(
        client.patch(url, content=b"name=x", headers={**headers, "Content-Type": "text/plain"}),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    assert client.get(url, headers=headers).json() == renamed


def audit_actions() -> list[dict]:
    return [json.loads(m.payload) for m in OutboxMessage.select().where(OutboxMessage.queue == "audit")]


def test_delete_conflicts_then_cascades(client, owner):
    user, headers = owner
    project = create(client, headers)
    milestone = add_milestone(client, headers, project["id"])
    url = f"{BASE}/{project['id']}"

    error = error_of(client.delete(url, headers=headers), 409, "CONFLICT")
    assert "cascade" in error["message"]
    error_of(client.delete(f"{url}?cascade=false", headers=headers), 409, "CONFLICT")
    assert client.get(url, headers=headers).status_code == 200
    error_of(client.delete(f"{url}?cascade=maybe", headers=headers), 400, "VALIDATION_ERROR")

    response = client.delete(f"{url}?cascade=true", headers=headers)
    assert response.status_code == 204
    assert response.content == b""
    error_of(client.get(url, headers=headers), 404, "NOT_FOUND")
    error_of(client.get(f"{url}/milestones/{milestone['id']}", headers=headers), 404, "NOT_FOUND")
    error_of(client.delete(f"{url}?cascade=true", headers=headers), 404, "NOT_FOUND")
    assert Milestone.get_by_id(milestone["id"]).deleted_at is not None
    [event] = [p for p in audit_actions() if p["action"] == "project.deleted"]
    assert (event["actorId"], event["targetId"]) == (str(user.id), project["id"])


def test_delete_without_milestones_is_204(client, owner):
    _, headers = owner
    project = create(client, headers)
    assert client.delete(f"{BASE}/{project['id']}", headers=headers).status_code == 204
    assert client.get(BASE, headers=headers).json()["meta"]["total"] == 0


def test_soft_deleted_projects_are_invisible(client, owner):
    _, headers = owner
    kept = create(client, headers, name="needle kept")
    gone = create(client, headers, name="needle gone")
    assert client.delete(f"{BASE}/{gone['id']}", headers=headers).status_code == 204
    for params in ({}, {"search": "needle"}, {"status": "active"}, {"sort": "name"}):
        body = client.get(BASE, params=params, headers=headers).json()
        assert [p["id"] for p in body["data"]] == [kept["id"]]
        assert body["meta"]["total"] == 1
    url = f"{BASE}/{gone['id']}"
    for method in ("GET", "PATCH", "DELETE"):
        error_of(client.request(method, url, json={"name": "back"}, headers=headers), 404, "NOT_FOUND")
    error_of(client.get(f"{url}/milestones", headers=headers), 404, "NOT_FOUND")
    error_of(client.post(f"{url}/milestones", json={"title": "M"}, headers=headers), 404, "NOT_FOUND")


def test_another_users_project_is_404_on_every_operation(client, owner, stranger):
    _, mine = owner
    _, theirs = stranger
    project = create(client, theirs, name="Theirs")
    milestone = add_milestone(client, theirs, project["id"])
    url = f"{BASE}/{project['id']}"
    m_url = f"{url}/milestones/{milestone['id']}"
    attempts = [
        ("GET", url, None),
        ("PATCH", url, {"name": "Stolen"}),
        ("DELETE", url, None),
        ("DELETE", f"{url}?cascade=true", None),
        ("GET", f"{url}/milestones", None),
        ("POST", f"{url}/milestones", {"title": "Sneaky"}),
        ("GET", m_url, None),
        ("PATCH", m_url, {"status": "done"}),
        ("DELETE", m_url, None),
    ]
    missing = client.request("GET", f"{BASE}/{uuid.uuid4()}", headers=mine).json()
    for method, target, body in attempts:
        response = client.request(method, target, json=body, headers=mine)
        assert error_of(response, 404, "NOT_FOUND")["message"] in {missing["error"]["message"], "Milestone not found"}
    assert client.get(BASE, headers=mine).json()["meta"]["total"] == 0
    untouched = client.get(url, headers=theirs).json()
    assert (untouched["name"], [m["status"] for m in untouched["milestones"]]) == ("Theirs", ["open"])


@pytest.mark.parametrize("bad", ["not-a-uuid", "1234", "6c0d8e2f4a1b4c3d9e5f7a8b9c0d1e2f0", "%20", "' OR 1=1 --"])
def test_malformed_ids_are_400_never_500(client, owner, bad):
    _, headers = owner
    project = create(client, headers)
    targets = [f"{BASE}/{bad}", f"{BASE}/{bad}/milestones", f"{BASE}/{project['id']}/milestones/{bad}"]
    for target in targets:
        for method in ("GET", "PATCH", "DELETE"):
            response = client.request(method, target, json={"name": "x", "title": "x"}, headers=headers)
            assert response.status_code in (400, 405), (method, target, response.text)
            assert response.json()["error"]["code"] in ("VALIDATION_ERROR", "METHOD_NOT_ALLOWED")


def test_detail_embeds_at_most_100_milestones(client, owner):
    _, headers = owner
    project = create(client, headers)
    Milestone.insert_many(
        [{"id": uuid.uuid4(), "project": project["id"], "title": f"m{i}"} for i in range(101)]
    ).execute()
    body = client.get(f"{BASE}/{project['id']}", headers=headers).json()
    assert len(body["milestones"]) == 100
    listed = client.get(f"{BASE}/{project['id']}/milestones?limit=100&page=2", headers=headers).json()
    assert listed["meta"]["total"] == 101
    assert len(listed["data"]) == 1


@pytest.mark.parametrize("blank", [" \u2003 ", "\ufeff", "\u3000\u00a0"])
def test_a_blank_name_is_refused_naming_the_field_and_changes_nothing(client, owner, blank):
    _, headers = owner
    error = error_of(client.post(BASE, json={"name": blank}, headers=headers), 400, "VALIDATION_ERROR")
    assert [d["field"] for d in error["details"]] == ["body.name"]
    project = create(client, headers, name="Hut")
    renamed = client.patch(f"{BASE}/{project['id']}", json={"name": blank, "status": "inactive"}, headers=headers)
    error_of(renamed, 400, "VALIDATION_ERROR")
    assert client.get(f"{BASE}/{project['id']}", headers=headers).json()["status"] == "active"
    milestone = add_milestone(client, headers, project["id"])
    retitled = client.patch(
        f"{BASE}/{project['id']}/milestones/{milestone['id']}", json={"title": blank}, headers=headers
    )
    assert error_of(retitled, 400, "VALIDATION_ERROR")["details"][0]["field"] == "body.title"
