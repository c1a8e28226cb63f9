"""Deep pages use a deferred join (ids first, rows by primary key): same rows, same order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from models import Milestone, Project
from services import milestones, paging, projects

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
