"""Projects: the caller's own and live ones only.

Ownership is part of every query: another user's project, a deleted one and a missing one all
find nothing, so existence never leaks.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Literal

from peewee import Expression, Query, Select

from models import Milestone, Project
from models.db import utcnow
from models.projects import PROJECT_SEARCH_TEXT
from store.adapter import Prepared, Slot, contains, contains_lowered, insert, prepared, slots
from store.database import is_postgres, locked, parse_id
from store.paging import Listing, Page, SortKey, after, ordering, paginate

Lock = Literal["update"] | None

SORT_KEYS = {
    "name": SortKey(Project.name),
    "createdAt": SortKey(Project.created_at),
    "updatedAt": SortKey(Project.updated_at),
    "status": SortKey(Project.status),
}


def owned_by(user_id: Any) -> Expression:
    """The condition for the caller's live projects."""
    return (Project.user == user_id) & Project.deleted_at.is_null()


def _owned(project_id: Any, user_id: Any) -> Expression:
    return (Project.id == project_id) & owned_by(user_id)


OWNED = Prepared(lambda: Project.select().where(_owned(Slot("id"), Slot("user"))))
# Every write to a project, or to one of its milestones, moves its version (its entity tag).
BUMP = {Project.version: Project.version + 1}


def get_owned(user_id: Any, project_id: Any, lock: Lock = None) -> Project | None:
    """The caller's live project, or None; with ``lock``, row-locked until the transaction ends."""
    pid = parse_id(project_id)
    if pid is None:
        return None
    if lock is None:
        return OWNED.first(id=pid, user=user_id)
    return locked(Project.select().where(_owned(pid, user_id))).first()


def names_owned(user_id: Any) -> set[str]:
    """The names of the caller's live projects."""
    return {project.name for project in Project.select(Project.name).where(owned_by(user_id))}


def _search(slot: str) -> Expression:
    # The name or the description contains the term; %, _ and \ in it match themselves.
    if is_postgres():  # one lower-cased column for both, trigram-indexed (migrations/0007)
        return contains_lowered(PROJECT_SEARCH_TEXT, slot)
    # SQLite: its LIKE (what ILIKE becomes there) folds ASCII case only.
    return contains(Project.name, slot) | contains(Project.description, slot)


def page_of(
    user_id: Any,
    *,
    page: int,
    limit: int,
    sort: str,
    search: str | None = None,
    status: str | None = None,
    last: tuple | None = None,
) -> Page:
    """One page of the caller's live projects, numbered or after ``last``. Raises InvalidInput for an
    unknown sort key."""

    def query() -> Select:
        condition = owned_by(Slot("user"))
        if search:
            condition &= _search("search")
        if status:
            condition &= Project.status == Slot("status")
        return Project.select().where(condition)

    listing = Listing(
        query, ("projects", bool(search), bool(status)), {"user": user_id, "search": search, "status": status}
    )
    if last is not None:
        return after(listing, sort, SORT_KEYS, Project.id, last, limit)
    return paginate(listing, ordering(sort, SORT_KEYS, Project.id), page, limit)


def add(user_id: Any, name: str, description: str | None, status: str) -> Project:
    """Insert a project: one INSERT, atomic on its own (no BEGIN and COMMIT round trips)."""
    now = utcnow()
    project = Project(created_at=now, updated_at=now, user=user_id, name=name, description=description, status=status)
    return insert(project)


def update_owned(
    user_id: Any, project_id: Any, values: Mapping[str, Any], versions: Collection[int] | None = None
) -> Project | None:
    """Set ``values`` (field names), move ``updated_at`` and bump ``version``; the changed project, or
    None if not the caller's or (with ``versions``) if its version is not one of them.

    One UPDATE … RETURNING, atomic on its own: the row is locked for that statement only, so
    concurrent edits queue for a round trip, not a read-then-write, and a version check in its
    WHERE cannot pass for two writers holding the same version. Rendered once per set of fields
    (and number of versions).
    """
    values = {**values, "updated_at": utcnow()}
    fields = [Project._meta.fields[name] for name in values]
    expected = {f"version{i}": version for i, version in enumerate(sorted(set(versions or ())))}

    def build() -> Query:
        condition = _owned(Slot("id"), Slot("user"))
        if versions is not None:
            condition &= Project.version.in_([Slot(name) for name in expected])
        return Project.update({**slots(*fields), **BUMP}).where(condition).returning(Project).objects(Project)

    shape = ("update owned project", *values, None if versions is None else len(expected))
    return prepared(shape, build).first(id=parse_id(project_id), user=user_id, **values, **expected)


BUMP_OWNED = Prepared(
    lambda: Project.update(BUMP).where(_owned(Slot("id"), Slot("user"))).returning(Project).objects(Project)
)
BUMP_ONE = Prepared(lambda: Project.update(BUMP).where(Project.id == Slot("id")))


def bump_owned(user_id: Any, project_id: Any) -> Project | None:
    """Bump the caller's live project's version (one of its milestones is being added); the project,
    row-locked until the transaction ends, or None if not the caller's."""
    pid = parse_id(project_id)
    return None if pid is None else BUMP_OWNED.first(id=pid, user=user_id)


def bump(project_id: Any) -> None:
    """Bump a project's version (one of its milestones changed or went)."""
    BUMP_ONE.execute(id=project_id)


def has_live_milestones(project: Project) -> bool:
    return Milestone.select().where((Milestone.project == project.id) & Milestone.deleted_at.is_null()).exists()


def soft_delete(project: Project) -> int:
    """Mark the project and its live milestones deleted; how many milestones went with it."""
    now = utcnow()
    removed = (
        Milestone.update(
            {Milestone.deleted_at: now, Milestone.updated_at: now, Milestone.version: Milestone.version + 1}
        )
        .where((Milestone.project == project.id) & Milestone.deleted_at.is_null())
        .execute()
    )
    Project.update({Project.deleted_at: now, Project.updated_at: now, **BUMP}).where(Project.id == project.id).execute()
    return removed


def soft_delete_all_owned(user_id: Any) -> int:
    """Mark every live project of a user and their live milestones deleted; how many projects."""
    now = utcnow()
    owned = Project.select(Project.id).where(owned_by(user_id))
    Milestone.update(
        {Milestone.deleted_at: now, Milestone.updated_at: now, Milestone.version: Milestone.version + 1}
    ).where(Milestone.project.in_(owned) & Milestone.deleted_at.is_null()).execute()
    return Project.update({Project.deleted_at: now, Project.updated_at: now, **BUMP}).where(owned_by(user_id)).execute()
