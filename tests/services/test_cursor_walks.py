"""Cursor paging (issue 27): a walk by cursor is the walk by page, rows created or deleted
meanwhile never shift it, and the lists' cursors cannot be altered or moved."""

from __future__ import annotations

import pytest
from test_projects_service import (
    MILESTONE_KEYS,
    MILESTONE_SORTS,
    PROJECT_KEYS,
    PROJECT_SORTS,
    expected_order,
    seed_milestones,
    seed_projects,
)

from models import Project
from tests.presented import milestones, projects


@pytest.fixture(autouse=True)
def _configured(app):
    """The app configures the database."""


@pytest.fixture
def owner(accounts):
    return accounts.create()


def cursor_walk(fetch, limit: int, between=None) -> list[str]:
    """Every page by cursor; a cursor page has only ``limit`` and ``nextCursor`` in its meta."""
    body = fetch(limit=limit)
    ids = [item["id"] for item in body["data"]]
    while body["meta"]["nextCursor"]:
        if between:
            between(ids)
        body = fetch(limit=limit, cursor=body["meta"]["nextCursor"])
        assert set(body["meta"]) == {"limit", "nextCursor"}
        ids += [item["id"] for item in body["data"]]
    return ids


def page_walk(fetch, limit: int) -> list[str]:
    ids, page = [], 1
    while data := fetch(limit=limit, page=page)["data"]:
        ids += [item["id"] for item in data]
        page += 1
    return ids


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("sort", PROJECT_SORTS)
def test_a_cursor_walk_of_projects_is_the_page_walk(owner, sort, descending):
    rows = seed_projects(owner, 23)
    sort = f"-{sort}" if descending else sort
    by_cursor = cursor_walk(lambda **kw: projects.list_projects(owner.id, sort=sort, **kw), limit=4)
    assert by_cursor == page_walk(lambda **kw: projects.list_projects(owner.id, sort=sort, **kw), limit=4)
    assert by_cursor == expected_order(rows, PROJECT_KEYS[sort.removeprefix("-")], descending)


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("sort", MILESTONE_SORTS)
def test_a_cursor_walk_of_milestones_is_the_page_walk_nulls_last(owner, sort, descending):
    project = projects.create_project(owner.id, {"name": "P"})
    rows = seed_milestones(project["id"], 17)
    sort = f"-{sort}" if descending else sort

    def fetch(**kw):
        return milestones.list_milestones(owner.id, project["id"], sort=sort, **kw)

    assert cursor_walk(fetch, limit=3) == page_walk(fetch, limit=3)
    expected = expected_order(rows, MILESTONE_KEYS[sort.removeprefix("-")], descending, nulls_last=True)
    assert cursor_walk(fetch, limit=3) == expected


def test_a_filtered_and_searched_walk_keeps_its_filters(owner):
    seed_projects(owner, 23)
    Project.update(name="beta ridge").where(Project.name == "beta").execute()

    def fetch(**kw):
        return projects.list_projects(owner.id, search="ridge", status="active", sort="name", **kw)

    walked = cursor_walk(fetch, limit=2)
    assert walked == page_walk(fetch, limit=2)
    assert walked  # the filters matched something


@pytest.mark.parametrize("sort", ["-createdAt", "name", "-updatedAt"])
def test_rows_created_and_deleted_during_a_walk_never_shift_it(owner, sort):
    seed_projects(owner, 30)
    before = {str(p.id) for p in Project.select()}
    deleted: set[str] = set()

    def churn(seen: list[str]) -> None:
        """Between pages: delete a row not seen yet and one already seen, and create two."""
        unseen = sorted(before - set(seen) - deleted)
        for victim in [*unseen[:1], seen[-1]]:
            projects.delete_project(owner.id, victim)
            deleted.add(victim)
        for name in ("alpha", "zeta"):
            projects.create_project(owner.id, {"name": name})

    walked = cursor_walk(lambda **kw: projects.list_projects(owner.id, sort=sort, **kw), limit=4, between=churn)
    assert len(walked) == len(set(walked))  # nothing twice
    assert (before - deleted) <= set(walked)  # everything that lived throughout, once
    order = {pid: i for i, pid in enumerate(walked)}
    survivors = [pid for pid in walked if pid in before - deleted]
    assert sorted(survivors, key=order.get) == survivors
