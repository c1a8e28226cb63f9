"""Cursors over HTTP (issue 27): what a cursor page looks like, and every way a cursor is refused."""

from __future__ import annotations

import pytest
from test_projects import BASE, create, error_of


@pytest.fixture
def walked(client, owner) -> dict:
    """A first page of 2 of the owner's 5 projects, and its next cursor."""
    _, headers = owner
    for n in range(5):
        create(client, headers, name=f"P{n}", status="active" if n % 2 else "inactive")
    body = client.get(BASE, params={"limit": 2}, headers=headers).json()
    return {"headers": headers, "cursor": body["meta"]["nextCursor"], "first": body}


def test_a_cursor_page_counts_nothing_and_the_last_has_no_next(client, walked):
    headers, cursor = walked["headers"], walked["cursor"]
    assert walked["first"]["meta"]["total"] == 5
    second = client.get(BASE, params={"cursor": cursor, "limit": 2}, headers=headers).json()
    assert set(second["meta"]) == {"limit", "nextCursor"}
    third = client.get(BASE, params={"cursor": second["meta"]["nextCursor"]}, headers=headers).json()
    assert len(third["data"]) == 1
    assert third["meta"] == {"limit": 20, "nextCursor": None}
    seen = [p["id"] for page in (walked["first"], second, third) for p in page["data"]]
    assert len(set(seen)) == 5


def altered(cursor: str) -> str:
    body, signature = cursor.split(".")
    return f"{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{signature}"


@pytest.mark.parametrize(
    "params",
    [
        lambda c: {"cursor": altered(c)},
        lambda _: {"cursor": "garbage.garbage"},
        lambda _: {"cursor": "x" * 1001},
        lambda _: {"cursor": "no-dot-at-all"},
        lambda c: {"cursor": c, "page": 2},
        lambda c: {"cursor": c, "page": 1},
        lambda c: {"cursor": c, "sort": "name"},
        lambda c: {"cursor": c, "status": "active"},
        lambda c: {"cursor": c, "search": "P1"},
    ],
    ids=[
        "altered",
        "garbage",
        "too-long",
        "no-signature",
        "with-page",
        "with-page-1",
        "other-sort",
        "other-filter",
        "other-search",
    ],
)
def test_a_bad_cursor_is_a_validation_error_naming_it(client, walked, params):
    response = client.get(BASE, params=params(walked["cursor"]), headers=walked["headers"])
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert {d["field"] for d in error["details"]} == {"query.cursor"}


def test_the_same_sort_and_filters_may_be_repeated(client, walked):
    response = client.get(BASE, params={"cursor": walked["cursor"], "sort": "-createdAt"}, headers=walked["headers"])
    assert response.status_code == 200, response.text


def test_another_users_cursor_shows_them_nothing(client, walked, accounts):
    stranger = accounts.headers_for(accounts.create())
    create(client, stranger, name="Mine")
    response = client.get(BASE, params={"cursor": walked["cursor"]}, headers=stranger)
    error_of(response, 400, "VALIDATION_ERROR")


def test_a_projects_cursor_is_refused_by_another_list(client, walked):
    milestones = client.get(f"{BASE}/{walked['first']['data'][0]['id']}/milestones", headers=walked["headers"])
    assert milestones.status_code == 200
    response = client.get(
        f"{BASE}/{walked['first']['data'][0]['id']}/milestones",
        params={"cursor": walked["cursor"]},
        headers=walked["headers"],
    )
    error_of(response, 400, "VALIDATION_ERROR")


def test_audit_logs_page_by_cursor(client, accounts):
    from services import audit

    admin = accounts.create(email="root@example.com", role="admin")
    user = accounts.create()
    for _ in range(5):
        audit.record("auth.logout", user.id, "user", user.id)
    for path, headers in [
        ("/api/v1/users/me/audit-logs", accounts.headers_for(user)),
        ("/api/v1/admin/audit-logs", accounts.headers_for(admin)),
    ]:
        body = client.get(path, params={"limit": 2}, headers=headers).json()
        ids = [row["id"] for row in body["data"]]
        while body["meta"]["nextCursor"]:
            body = client.get(path, params={"limit": 2, "cursor": body["meta"]["nextCursor"]}, headers=headers).json()
            ids += [row["id"] for row in body["data"]]
        paged = client.get(path, params={"limit": 100}, headers=headers).json()
        assert ids == [row["id"] for row in paged["data"]]
        assert len(ids) == 5
    mine = client.get("/api/v1/users/me/audit-logs", params={"limit": 2}, headers=accounts.headers_for(user)).json()
    as_admin = client.get(
        "/api/v1/admin/audit-logs", params={"cursor": mine["meta"]["nextCursor"]}, headers=accounts.headers_for(admin)
    )
    error_of(as_admin, 400, "VALIDATION_ERROR")
