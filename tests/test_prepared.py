"""models.prepared: a query rendered once returns what peewee itself returns, for any values."""

from __future__ import annotations

import gc
import uuid
import weakref
from datetime import UTC, date, datetime, timedelta

import pytest

from models import Milestone, Project, db
from models.db import init_db
from models.prepared import Prepared, Slot
from services import milestones

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _configured(app):
    """The app configures the database."""


def live_milestones(project_id, limit):
    return (
        Milestone.select()
        .where((Milestone.project == project_id) & Milestone.deleted_at.is_null())
        .order_by(*milestones.DETAIL_ORDER)
        .limit(limit)
    )


EMBEDDED = Prepared(lambda: live_milestones(Slot("project"), Slot("limit")))


@pytest.fixture
def two_projects(accounts):
    owner = accounts.create()
    projects = [Project.create(user=owner, name=f"P{n}", created_at=T0, updated_at=T0) for n in range(2)]
    for n in range(7):
        for project in projects:
            Milestone.create(
                project=project,
                title=f"{project.name}-M{n}",
                due_date=None if n % 3 == 0 else date(2026, 3, 9 - n),
                created_at=T0 + timedelta(minutes=n),
                updated_at=T0,
                deleted_at=T0 if n == 4 else None,
            )
    return projects


@pytest.mark.parametrize("limit", [1, 3, 100])
def test_rows_and_values_match_peewees_own_query_for_every_binding(two_projects, limit):
    for project in two_projects:
        for project_id in (project.id, str(project.id)):  # converted by the field, as peewee does
            expected = [m.__data__ for m in live_milestones(project_id, limit)]
            got = [m.__data__ for m in EMBEDDED.models(project=project_id, limit=limit)]
            assert got == expected
            assert len(got) == min(limit, 6)


def test_first_and_scalar_give_one_row_or_none(two_projects):
    project = two_projects[0]
    by_id = Prepared(lambda: Project.select().where(Project.id == Slot("id")))
    name_of = Prepared(lambda: Project.select(Project.name).where(Project.id == Slot("id")))
    assert by_id.first(id=project.id).__data__ == Project.get_by_id(project.id).__data__
    assert name_of.scalar(id=str(project.id)) == project.name
    missing = uuid.uuid4()
    assert by_id.first(id=missing) is None
    assert name_of.scalar(id=missing) is None


def test_a_query_is_rendered_once_per_kind_of_database(two_projects):
    builds = []

    def build():
        builds.append(1)
        return live_milestones(Slot("project"), Slot("limit"))

    query = Prepared(build)
    for project in two_projects * 3:
        list(query.models(project=project.id, limit=2))
    assert len(builds) == 1


def test_a_replaced_database_is_not_kept_alive(settings, two_projects):
    """Holding the old database would hold its pooled connections open (a leak under tests' init_db)."""
    EMBEDDED.first(project=two_projects[0].id, limit=1)
    old = weakref.ref(db.obj)
    db.close()
    init_db(settings.database_url)
    gc.collect()
    assert old() is None
    assert EMBEDDED.first(project=two_projects[0].id, limit=1) is not None
