"""Deep pages use a deferred join (ids first, rows by primary key): same rows, same order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

import store.adapter
from models import Milestone, Project
from store import paging
from tests.presented import milestones, projects

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _configured(app):
    """The app configures the database and Celery."""


@pytest.fixture
def project_owner(accounts):
    owner = accounts.create()
    for i in range(23):
        # Repeated names, statuses and times, so the id tie-break decides much of the order.
        at = T0 + timedelta(minutes=i % 5)
        Project.create(
            user=owner.id, name=f"P{i % 4}", status="active" if i % 3 else "inactive", created_at=at, updated_at=at
        )
    return owner


def walk(list_page, limit: int) -> list[str]:
    ids, page = [], 1
    while True:
        data = list_page(page=page, limit=limit)["data"]
        if not data:
            return ids
        ids += [row["id"] for row in data]
        page += 1


@pytest.mark.parametrize("sort", ["name", "-name", "createdAt", "-createdAt", "updatedAt", "status", "-status"])
def test_deferred_join_pages_projects_exactly_like_the_plain_query(project_owner, monkeypatch, sort):
    def list_page(**kwargs):
        return projects.list_projects(project_owner.id, sort=sort, **kwargs)

    plain = walk(list_page, limit=4)
    monkeypatch.setattr(paging, "DEFERRED_JOIN_OFFSET", 0)
    deferred = walk(list_page, limit=4)

    assert deferred == plain
    assert len(set(plain)) == 23


def test_deferred_join_keeps_filters_and_nulls_last(project_owner, monkeypatch):
    project = Project.select().where(Project.user == project_owner.id).first()
    for i in range(9):
        due = None if i % 3 == 0 else date(2026, 3, 1 + i % 2)
        Milestone.create(project=project.id, title=f"M{i % 2}", due_date=due, status="done" if i % 2 else "open")

    def list_page(**kwargs):
        return milestones.list_milestones(project_owner.id, str(project.id), status="open", **kwargs)

    plain = walk(list_page, limit=2)
    monkeypatch.setattr(paging, "DEFERRED_JOIN_OFFSET", 0)
    assert walk(list_page, limit=2) == plain
    assert len(plain) == 5
    searched = projects.list_projects(project_owner.id, search="P1", page=2, limit=2)
    assert [row["name"] for row in searched["data"]] == ["P1", "P1"]


def everything_in_order(query, sort: str, keys, tiebreak) -> list[str]:
    """The oracle: the whole list in one plain query, no offset involved."""
    return [str(row.id) for row in query.order_by(*paging.ordering(sort, keys, tiebreak))]


@pytest.mark.parametrize("deferred_from", [1000, 0])
@pytest.mark.parametrize("sort", ["name", "-name", "createdAt", "-createdAt", "status", "-status"])
def test_pages_read_from_the_end_match_the_whole_list(project_owner, monkeypatch, sort, deferred_from):
    monkeypatch.setattr(paging, "DEFERRED_JOIN_OFFSET", deferred_from)
    expected = everything_in_order(
        Project.select().where(Project.user == project_owner.id), sort, projects.SORT_KEYS, Project.id
    )
    for limit in (1, 3, 4, 5, 11, 12, 22, 23, 40):
        pages = [
            [row["id"] for row in projects.list_projects(project_owner.id, sort=sort, page=page, limit=limit)["data"]]
            for page in range(1, -(-23 // limit) + 2)
        ]
        assert pages[-1] == []  # one past the last page
        assert [pid for page in pages for pid in page] == expected, limit


@pytest.mark.parametrize("sort", ["dueDate", "-dueDate"])
def test_reading_from_the_end_keeps_nulls_where_the_order_puts_them(project_owner, sort):
    project = Project.select().where(Project.user == project_owner.id).first()
    for i in range(9):
        due = None if i % 3 == 0 else date(2026, 3, 1 + i % 2)
        Milestone.create(project=project.id, title=f"M{i}", due_date=due)
    expected = everything_in_order(
        Milestone.select().where(Milestone.project == project.id), sort, milestones.SORT_KEYS, Milestone.id
    )
    walked = walk(lambda **kw: milestones.list_milestones(project_owner.id, str(project.id), sort=sort, **kw), 2)
    assert walked == expected
    due_dates = [Milestone.get_by_id(mid).due_date for mid in walked]
    assert due_dates[-3:] == [None, None, None]  # NULLs last in both directions


def test_a_lists_queries_are_rendered_once_per_shape_not_per_request(project_owner, accounts, monkeypatch):
    """Rendered SQL is kept per shape (filters, order, end, deferred join): never per value, or the
    cache would grow with every user, page and search term."""
    monkeypatch.setattr(store.adapter, "_BY_SHAPE", {})
    monkeypatch.setattr(paging, "DEFERRED_JOIN_OFFSET", 4)
    other = accounts.create()
    for owner in (project_owner, other):
        for term in ("P", "p", "100%"):
            for limit in (1, 2, 5):
                for page in range(1, 25):
                    projects.list_projects(owner.id, search=term, status="active", page=page, limit=limit)
    # one count, and a page from either end, plain or deferred
    assert len(store.adapter._BY_SHAPE) == 5, sorted(map(str, store.adapter._BY_SHAPE))
