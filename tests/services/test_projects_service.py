"""Project and milestone use cases, called directly (no HTTP): paging, search, ownership, soft delete."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from core.errors import DomainError
from models import Milestone, OutboxMessage, Project, db
from store.database import is_postgres
from tests.presented import meta, milestones, projects
from web.errors import code_of

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PROJECT_SORTS = ["name", "createdAt", "updatedAt", "status"]
MILESTONE_SORTS = ["title", "dueDate", "createdAt", "updatedAt", "status"]


@pytest.fixture(autouse=True)
def _configured(app):
    """The app configures Celery (the outbox publishes after commit) and the database."""


@pytest.fixture
def owner(accounts):
    return accounts.create()


@pytest.fixture
def stranger(accounts):
    return accounts.create()


def raises(code: str, call, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)
    assert code_of(caught.value) == code, caught.value.message
    return caught.value


def seed_projects(user, count: int) -> list[Project]:
    """Rows with many equal sort keys: 3 names, 2 statuses, 2 creation and 2 update times."""
    rows = [
        {
            "id": uuid.uuid4(),
            "user": user.id,
            "name": ["alpha", "beta", "gamma"][i % 3],
            "status": ["active", "inactive"][i % 2],
            "created_at": T0 + timedelta(days=i % 2),
            "updated_at": T0 + timedelta(days=5 + i % 2),
        }
        for i in range(count)
    ]
    Project.insert_many(rows).execute()
    return list(Project.select().where(Project.user == user.id))


def expected_order(rows, key, descending, nulls_last=False):
    """The order the API promises: the key, then the id, both in the sort's direction; NULLs at the end."""
    present = sorted((r for r in rows if key(r) is not None), key=lambda r: (key(r), str(r.id)), reverse=descending)
    missing = sorted((r for r in rows if key(r) is None), key=lambda r: str(r.id), reverse=descending)
    assert nulls_last or not missing
    return [str(r.id) for r in present + missing]


def walk(fetch, limit: int) -> list[str]:
    """Every page until an empty one; checks that meta stays exact on every page."""
    ids, page = [], 1
    while True:
        body = fetch(page=page, limit=limit)
        total = body["meta"]["total"]
        assert body["meta"] == meta(total, page, limit)
        if not body["data"]:
            assert page == body["meta"]["totalPages"] + 1
            return ids
        ids += [item["id"] for item in body["data"]]
        page += 1


PROJECT_KEYS = {
    "name": lambda p: p.name,
    "createdAt": lambda p: p.created_at,
    "updatedAt": lambda p: p.updated_at,
    "status": lambda p: p.status,
}


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("sort", PROJECT_SORTS)
def test_project_pages_cover_every_row_once_in_order(owner, sort, descending):
    rows = seed_projects(owner, 23)
    sort_param = f"-{sort}" if descending else sort
    ids = walk(lambda **kw: projects.list_projects(owner.id, sort=sort_param, **kw), limit=5)
    assert len(ids) == len(set(ids)) == 23
    assert ids == expected_order(rows, PROJECT_KEYS[sort], descending)


def test_default_project_order_is_newest_first(owner):
    rows = seed_projects(owner, 7)
    ids = [p["id"] for p in projects.list_projects(owner.id)["data"]]
    assert ids == expected_order(rows, PROJECT_KEYS["createdAt"], descending=True)


def test_page_past_the_end_is_empty_with_exact_meta(owner):
    seed_projects(owner, 3)
    assert projects.list_projects(owner.id, page=2, limit=2)["meta"] == {
        "total": 3,
        "page": 2,
        "limit": 2,
        "totalPages": 2,
        "nextCursor": None,
    }
    assert projects.list_projects(owner.id, page=9, limit=2) == {"data": [], "meta": meta(3, 9, 2)}


def test_empty_list_has_zero_pages(owner):
    assert projects.list_projects(owner.id) == {
        "data": [],
        "meta": {"total": 0, "page": 1, "limit": 20, "totalPages": 0, "nextCursor": None},
    }


def test_unknown_sort_key_is_a_validation_error(owner):
    error = raises("VALIDATION_ERROR", projects.list_projects, owner.id, sort="-owner")
    assert error.field == "query.sort"


def test_status_filter(owner):
    seed_projects(owner, 6)
    body = projects.list_projects(owner.id, status="inactive")
    assert body["meta"]["total"] == 3
    assert {p["status"] for p in body["data"]} == {"inactive"}


@pytest.fixture
def searchable(owner):
    names = {
        "100% done": None,
        "100 percent": None,
        "snake_case": None,
        "snakeXcase": None,
        "back\\slash": None,
        "backslash": None,
        "UPPER lower": None,
        "plain": "a NEEDLE in the description",
        "split": "word",
    }
    return {name: projects.create_project(owner.id, {"name": name, "description": d}) for name, d in names.items()}


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("%", {"100% done"}),
        ("0%", {"100% done"}),
        ("_", {"snake_case"}),
        ("e_c", {"snake_case"}),
        ("\\", {"back\\slash"}),
        ("k\\s", {"back\\slash"}),
        ("upper LOWER", {"UPPER lower"}),
        ("needle", {"plain"}),
        ("snake", {"snake_case", "snakeXcase"}),
        ("nothing like it", set()),
        ("tw", set()),  # "split" + "word": a match never spans the name and the description
        ("word", {"split"}),
    ],
)
def test_search_is_a_literal_case_insensitive_substring(owner, searchable, term, expected):
    body = projects.list_projects(owner.id, search=term)
    assert {p["name"] for p in body["data"]} == expected
    assert body["meta"]["total"] == len(expected)


def test_search_follows_edits_and_deletes(owner, searchable):
    plain = searchable["plain"]["id"]
    projects.update_project(owner.id, plain, {"name": "Renamed Ridge", "description": None})
    assert [p["name"] for p in projects.list_projects(owner.id, search="ridge")["data"]] == ["Renamed Ridge"]
    assert projects.list_projects(owner.id, search="needle")["meta"]["total"] == 0
    projects.delete_project(owner.id, plain)
    assert projects.list_projects(owner.id, search="ridge")["meta"]["total"] == 0


def test_search_folds_case_as_the_database_does(owner):
    """PostgreSQL: as its lower() does (Unicode under this project's C.UTF-8 or a UTF-8 locale,
    ASCII only under C). SQLite: ASCII only."""
    projects.create_project(owner.id, {"name": "Éboulement", "description": "CRÊTE"})
    folds_unicode = is_postgres() and db.execute_sql("SELECT lower('É') = 'é'").fetchone()[0]
    found = {term: projects.list_projects(owner.id, search=term)["meta"]["total"] for term in ("éBOUL", "crête")}
    assert found == {"éBOUL": int(folds_unicode), "crête": int(folds_unicode)}
    assert projects.list_projects(owner.id, search="BOULEMENT")["meta"]["total"] == 1  # ASCII folds everywhere


def test_search_combines_with_status(owner, searchable):
    projects.update_project(owner.id, searchable["snakeXcase"]["id"], {"status": "inactive"})
    body = projects.list_projects(owner.id, search="snake", status="inactive")
    assert [p["name"] for p in body["data"]] == ["snakeXcase"]


def test_create_trims_the_name_and_keeps_the_description(owner):
    created = projects.create_project(owner.id, {"name": "  Summit \u3000\ufeff", "description": "  as given \n"})
    assert created["name"] == "Summit"
    assert created["description"] == "  as given \n"
    assert created["status"] == "active"
    assert created["createdAt"].endswith("Z")


def test_update_changes_only_the_given_fields_and_moves_updated_at(owner):
    created = projects.create_project(owner.id, {"name": "Hut", "description": "Roof", "status": "active"})
    cleared = projects.update_project(owner.id, created["id"], {"description": None})
    assert cleared["description"] is None
    assert (cleared["name"], cleared["status"]) == ("Hut", "active")
    assert cleared["updatedAt"] > created["updatedAt"]
    assert cleared["createdAt"] == created["createdAt"]
    renamed = projects.update_project(owner.id, created["id"], {"name": "  Hut 2 ", "status": "inactive"})
    assert (renamed["name"], renamed["status"], renamed["description"]) == ("Hut 2", "inactive", None)
    assert renamed["updatedAt"] > cleared["updatedAt"]
    assert projects.get_project(owner.id, created["id"]) == renamed


def test_detail_embeds_at_most_100_live_milestones_in_two_queries(owner, caplog):
    project = projects.create_project(owner.id, {"name": "Big"})
    rows = [
        {
            "id": uuid.uuid4(),
            "project": project["id"],
            "title": f"m{i}",
            "due_date": None if i % 4 == 0 else date(2026, 3, 1 + i % 5),
            "created_at": T0 + timedelta(minutes=i % 3),
            "updated_at": T0,
            "deleted_at": T0 if i % 10 == 9 else None,
        }
        for i in range(115)
    ]
    Milestone.insert_many(rows).execute()
    live = list(Milestone.select().where(Milestone.deleted_at.is_null()))
    order = sorted(live, key=lambda m: (m.due_date is None, m.due_date or date.min, m.created_at, str(m.id)))

    caplog.set_level(logging.DEBUG, logger="peewee")
    detail = projects.get_project(owner.id, project["id"])
    queries = [r for r in caplog.records if r.name == "peewee"]
    assert len(queries) <= 2, queries
    assert [m["id"] for m in detail["milestones"]] == [str(m.id) for m in order[:100]]


def test_detail_order_puts_undated_milestones_last(owner):
    project = projects.create_project(owner.id, {"name": "P"})
    undated = milestones.create_milestone(owner.id, project["id"], {"title": "undated"})
    late = milestones.create_milestone(owner.id, project["id"], {"title": "late", "dueDate": "2027-01-01"})
    early = milestones.create_milestone(owner.id, project["id"], {"title": "early", "dueDate": "2026-01-01"})
    embedded = projects.get_project(owner.id, project["id"])["milestones"]
    assert [m["id"] for m in embedded] == [early["id"], late["id"], undated["id"]]


def test_another_users_project_is_not_found_everywhere(owner, stranger):
    theirs = projects.create_project(stranger.id, {"name": "Theirs"})
    mine = projects.create_project(owner.id, {"name": "Mine"})
    milestone = milestones.create_milestone(stranger.id, theirs["id"], {"title": "Theirs too"})
    pid, mid = theirs["id"], milestone["id"]
    raises("NOT_FOUND", projects.get_project, owner.id, pid)
    raises("NOT_FOUND", projects.update_project, owner.id, pid, {"name": "Stolen"})
    raises("NOT_FOUND", projects.delete_project, owner.id, pid, cascade=True)
    raises("NOT_FOUND", milestones.list_milestones, owner.id, pid)
    raises("NOT_FOUND", milestones.create_milestone, owner.id, pid, {"title": "Sneaky"})
    raises("NOT_FOUND", milestones.get_milestone, owner.id, pid, mid)
    raises("NOT_FOUND", milestones.update_milestone, owner.id, pid, mid, {"status": "done"})
    raises("NOT_FOUND", milestones.delete_milestone, owner.id, pid, mid)
    # Their milestone under my project id is still not mine.
    raises("NOT_FOUND", milestones.get_milestone, owner.id, mine["id"], mid)
    assert [p["id"] for p in projects.list_projects(owner.id)["data"]] == [mine["id"]]
    untouched = projects.get_project(stranger.id, pid)
    assert (untouched["name"], len(untouched["milestones"])) == ("Theirs", 1)
    assert untouched["milestones"][0]["status"] == "open"


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "", "1234", "6c0d8e2f-4a1b-4c3d-9e5f-7a8b9c0d1e2"])
def test_malformed_ids_are_not_found(owner, bad_id):
    project = projects.create_project(owner.id, {"name": "P"})
    raises("NOT_FOUND", projects.get_project, owner.id, bad_id)
    raises("NOT_FOUND", milestones.get_milestone, owner.id, project["id"], bad_id)
    raises("NOT_FOUND", milestones.get_milestone, owner.id, bad_id, project["id"])


def test_missing_project_is_not_found(owner):
    raises("NOT_FOUND", projects.get_project, owner.id, str(uuid.uuid4()))


def test_delete_conflicts_while_live_milestones_exist(owner):
    project = projects.create_project(owner.id, {"name": "P"})
    milestone = milestones.create_milestone(owner.id, project["id"], {"title": "M"})
    raises("CONFLICT", projects.delete_project, owner.id, project["id"])
    assert projects.get_project(owner.id, project["id"])["milestones"][0]["id"] == milestone["id"]
    assert OutboxMessage.select().count() == 0
    # A deleted milestone no longer blocks the delete.
    milestones.delete_milestone(owner.id, project["id"], milestone["id"])
    projects.delete_project(owner.id, project["id"])
    raises("NOT_FOUND", projects.get_project, owner.id, project["id"])


def audit_payloads(action: str) -> list[dict]:
    payloads = [json.loads(m.payload) for m in OutboxMessage.select().where(OutboxMessage.queue == "audit")]
    return [p for p in payloads if p["action"] == action]


def test_cascade_deletes_milestones_and_audits_in_one_transaction(owner):
    project = projects.create_project(owner.id, {"name": "P"})
    for title in ("a", "b"):
        milestones.create_milestone(owner.id, project["id"], {"title": title})
    projects.delete_project(owner.id, project["id"], cascade=True)

    stored = Project.get_by_id(project["id"])
    assert stored.deleted_at is not None
    assert {m.deleted_at for m in Milestone.select()} == {stored.deleted_at}
    [event] = audit_payloads("project.deleted")
    assert (event["actorId"], event["targetType"], event["targetId"]) == (str(owner.id), "project", project["id"])
    assert event["details"] == {"milestonesDeleted": 2}
    raises("NOT_FOUND", milestones.list_milestones, owner.id, project["id"])
    raises("NOT_FOUND", projects.delete_project, owner.id, project["id"], cascade=True)


def test_failed_cascade_leaves_everything_live(owner, monkeypatch):
    from services import audit

    project = projects.create_project(owner.id, {"name": "P"})
    milestones.create_milestone(owner.id, project["id"], {"title": "M"})

    def broken(*_args, **_kwargs):
        raise RuntimeError("audit down")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(RuntimeError):
        projects.delete_project(owner.id, project["id"], cascade=True)
    assert len(projects.get_project(owner.id, project["id"])["milestones"]) == 1


def test_soft_deleted_rows_are_invisible_everywhere(owner):
    kept = projects.create_project(owner.id, {"name": "needle kept"})
    gone = projects.create_project(owner.id, {"name": "needle gone"})
    projects.delete_project(owner.id, gone["id"])
    m_kept = milestones.create_milestone(owner.id, kept["id"], {"title": "kept"})
    m_gone = milestones.create_milestone(owner.id, kept["id"], {"title": "gone"})
    milestones.delete_milestone(owner.id, kept["id"], m_gone["id"])

    for body in (projects.list_projects(owner.id), projects.list_projects(owner.id, search="needle")):
        assert [p["id"] for p in body["data"]] == [kept["id"]]
        assert body["meta"]["total"] == 1
    raises("NOT_FOUND", projects.get_project, owner.id, gone["id"])
    raises("NOT_FOUND", projects.update_project, owner.id, gone["id"], {"name": "back"})
    raises("NOT_FOUND", projects.delete_project, owner.id, gone["id"])
    assert [m["id"] for m in projects.get_project(owner.id, kept["id"])["milestones"]] == [m_kept["id"]]
    listed = milestones.list_milestones(owner.id, kept["id"])
    assert ([m["id"] for m in listed["data"]], listed["meta"]["total"]) == ([m_kept["id"]], 1)
    raises("NOT_FOUND", milestones.get_milestone, owner.id, kept["id"], m_gone["id"])
    raises("NOT_FOUND", milestones.update_milestone, owner.id, kept["id"], m_gone["id"], {"title": "x"})
    raises("NOT_FOUND", milestones.delete_milestone, owner.id, kept["id"], m_gone["id"])


def seed_milestones(project_id: str, count: int) -> list[Milestone]:
    rows = [
        {
            "id": uuid.uuid4(),
            "project": project_id,
            "title": ["x", "y"][i % 2],
            "status": ["open", "done"][i % 3 == 0],
            "due_date": None if i % 3 == 1 else date(2026, 5, 1 + i % 2),
            "created_at": T0 + timedelta(hours=i % 2),
            "updated_at": T0 + timedelta(hours=i % 3),
        }
        for i in range(count)
    ]
    Milestone.insert_many(rows).execute()
    return list(Milestone.select().where(Milestone.project == project_id))


MILESTONE_KEYS = {
    "title": lambda m: m.title,
    "dueDate": lambda m: m.due_date,
    "createdAt": lambda m: m.created_at,
    "updatedAt": lambda m: m.updated_at,
    "status": lambda m: m.status,
}


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("sort", MILESTONE_SORTS)
def test_milestone_pages_cover_every_row_once_in_order(owner, sort, descending):
    project = projects.create_project(owner.id, {"name": "P"})
    rows = seed_milestones(project["id"], 17)
    sort_param = f"-{sort}" if descending else sort
    ids = walk(lambda **kw: milestones.list_milestones(owner.id, project["id"], sort=sort_param, **kw), limit=4)
    assert len(ids) == len(set(ids)) == 17
    assert ids == expected_order(rows, MILESTONE_KEYS[sort], descending, nulls_last=sort == "dueDate")


def test_milestone_default_order_is_due_date_with_nulls_last(owner):
    project = projects.create_project(owner.id, {"name": "P"})
    rows = seed_milestones(project["id"], 9)
    ids = [m["id"] for m in milestones.list_milestones(owner.id, project["id"])["data"]]
    assert ids == expected_order(rows, MILESTONE_KEYS["dueDate"], descending=False, nulls_last=True)
    assert ids[-1] in {str(m.id) for m in rows if m.due_date is None}


def test_milestone_status_filter(owner):
    project = projects.create_project(owner.id, {"name": "P"})
    rows = seed_milestones(project["id"], 9)
    body = milestones.list_milestones(owner.id, project["id"], status="done")
    assert {m["id"] for m in body["data"]} == {str(m.id) for m in rows if m.status == "done"}


def test_milestone_update_semantics(owner):
    project = projects.create_project(owner.id, {"name": "P"})
    created = milestones.create_milestone(
        owner.id, project["id"], {"title": " Scout ", "description": "d", "dueDate": "2026-12-15"}
    )
    assert (created["title"], created["dueDate"], created["status"]) == ("Scout", "2026-12-15", "open")
    cleared = milestones.update_milestone(
        owner.id, project["id"], created["id"], {"dueDate": None, "description": None}
    )
    assert (cleared["dueDate"], cleared["description"], cleared["title"]) == (None, None, "Scout")
    assert cleared["updatedAt"] > created["updatedAt"]
    done = milestones.update_milestone(owner.id, project["id"], created["id"], {"status": "done"})
    assert milestones.get_milestone(owner.id, project["id"], created["id"]) == done


def test_impossible_due_date_is_a_validation_error(owner):
    project = projects.create_project(owner.id, {"name": "P"})
    error = raises(
        "VALIDATION_ERROR",
        milestones.create_milestone,
        owner.id,
        project["id"],
        {"title": "M", "dueDate": "2026-02-30"},
    )
    assert error.field == "body.dueDate"


def test_delete_all_owned_by_removes_only_that_users_projects(owner, stranger):
    mine = projects.create_project(owner.id, {"name": "Mine"})
    milestones.create_milestone(owner.id, mine["id"], {"title": "M"})
    theirs = projects.create_project(stranger.id, {"name": "Theirs"})
    assert projects.delete_all_owned_by(owner.id) == 1
    assert projects.list_projects(owner.id)["meta"]["total"] == 0
    assert Milestone.get().deleted_at is not None
    assert projects.get_project(stranger.id, theirs["id"])["name"] == "Theirs"


@pytest.mark.postgres_only
def test_delete_waits_for_a_milestone_being_added_and_then_conflicts(owner):
    """The project's row lock orders a concurrent create and delete: no live milestone under a deleted project."""
    import threading

    from models import db
    from store.database import writing

    project = projects.create_project(owner.id, {"name": "P"})
    holding, go_on, outcome = threading.Event(), threading.Event(), {}

    def add_slowly():
        try:
            with writing():
                projects.owned(owner.id, project["id"], lock="update")
                holding.set()
                go_on.wait(5)
                milestones.create_milestone(owner.id, project["id"], {"title": "late"})
        finally:
            db.close()

    def delete():
        try:
            projects.delete_project(owner.id, project["id"])
            outcome["deleted"] = True
        except DomainError as error:
            outcome["code"] = code_of(error)
        finally:
            db.close()

    adder = threading.Thread(target=add_slowly)
    adder.start()
    assert holding.wait(5)
    deleter = threading.Thread(target=delete)
    deleter.start()
    deleter.join(0.3)
    assert deleter.is_alive(), "the delete should wait for the create's lock"
    go_on.set()
    adder.join(5)
    deleter.join(5)
    assert outcome == {"code": "CONFLICT"}
    assert len(projects.get_project(owner.id, project["id"])["milestones"]) == 1
