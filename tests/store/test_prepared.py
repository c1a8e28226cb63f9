"""store.adapter: a query rendered once returns what peewee itself returns, for any values."""

from __future__ import annotations

import gc
import uuid
import weakref
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from models import Milestone, Project, db
from store import milestones
from store.adapter import Prepared, Slot, insert, slots
from store.database import init_db

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


def test_a_joined_select_attaches_the_joined_rows_as_peewee_does(two_projects):
    project = two_projects[0]
    joined = Milestone.select(Milestone, Project).join(Project).where(Milestone.project == project.id)
    prepared = Prepared(
        lambda: Milestone.select(Milestone, Project).join(Project).where(Milestone.project == Slot("project"))
    )
    expected = {m.id: (m.__data__, m.project.__data__) for m in joined}
    got = {m.id: (m.__data__, m.project.__data__) for m in prepared.models(project=str(project.id))}
    assert got == expected
    assert len(got) == 7


def test_an_update_binds_its_values_through_the_fields_and_counts_its_rows(two_projects):
    project = two_projects[0]
    rename = Prepared(
        lambda: Project.update(slots(Project.name, Project.updated_at)).where(
            (Project.id == Slot("id")) & Project.deleted_at.is_null()
        )
    )
    later = datetime(2026, 5, 1, 12, tzinfo=timezone(timedelta(hours=2)))  # stored as UTC, as peewee would
    assert rename.execute(id=str(project.id), name="Renamed", updated_at=later) == 1
    assert rename.execute(id=uuid.uuid4(), name="Nobody", updated_at=later) == 0
    row = Project.get_by_id(project.id)
    assert (row.name, row.updated_at) == ("Renamed", later.astimezone(UTC))
    assert Project.get_by_id(two_projects[1].id).name == "P1"


def test_insert_writes_the_row_model_create_would(two_projects):
    project = two_projects[0]
    fields = {"project": project, "title": "Launch", "due_date": date(2026, 7, 1), "created_at": T0, "updated_at": T0}
    created = Milestone.create(**fields)
    inserted = insert(Milestone(**fields))
    assert inserted.id != created.id
    stored = {m.id: m.__data__ for m in Milestone.select().where(Milestone.id.in_([created.id, inserted.id]))}
    assert {**stored[inserted.id], "id": created.id} == stored[created.id]
    assert stored[inserted.id]["deleted_at"] is None  # a nullable column left out is bound as NULL
