"""Projects: the caller's own and live ones only.

Ownership is part of every query: another user's project, a deleted one and a missing one all
find nothing, so existence never leaks.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal

from peewee import Expression, Select

from models import Milestone, Project
from models.db import utcnow
from models.projects import PROJECT_SEARCH_TEXT
from store.adapter import Prepared, Slot, contains, contains_lowered, insert, prepared, slots
from store.database import is_postgres, locked
from store.paging import Listing, Page, SortKey, after, ordering, paginate

Lock = Literal["share", "update"] | None

SORT_KEYS = {
    "name": SortKey(Project.name),
    "createdAt": SortKey(Project.created_at),
    "updatedAt": SortKey(Project.updated_at),
    "status": SortKey(Project.status),
}


def parse_id(value: Any) -> uuid.UUID | None:
    """The UUID in ``value``, or None when it is not one (a malformed id finds nothing, never a 500)."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None


def owned_by(user_id: Any) -> Expression:
    """The condition for the caller's live projects."""
    return (Project.user == user_id) & Project.deleted_at.is_null()


def _owned(project_id: Any, user_id: Any) -> Expression:
    return (Project.id == project_id) & owned_by(user_id)


OWNED = Prepared(lambda: Project.select().where(_owned(Slot("id"), Slot("user"))))


def get_owned(user_id: Any, project_id: Any, lock: Lock = None) -> Project | None:
    """The caller's live project, or None; with ``lock``, row-locked until the transaction ends."""
    pid = parse_id(project_id)
    if pid is None:
        return None
    if lock is None:
        return OWNED.first(id=pid, user=user_id)
    return locked(Project.select().where(_owned(pid, user_id)), share=lock == "share").first()


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


def update_owned(user_id: Any, project_id: Any, values: Mapping[str, Any]) -> Project | None:
    """Set ``values`` (field names) and move ``updated_at``; the changed project, or None if not the caller's.

    One UPDATE … RETURNING, atomic on its own: the row is locked for that statement only, so
    concurrent edits queue for a round trip, not a read-then-write. Rendered once per set of fields.
    """
    values = {**values, "updated_at": utcnow()}
    fields = [Project._meta.fields[name] for name in values]
    update = prepared(
        ("update owned project", *values),
        lambda: (
            Project.update(slots(*fields)).where(_owned(Slot("id"), Slot("user"))).returning(Project).objects(Project)
        ),
    )
    return update.first(id=parse_id(project_id), user=user_id, **values)


def has_live_milestones(project: Project) -> bool:
    return Milestone.select().where((Milestone.project == project.id) & Milestone.deleted_at.is_null()).exists()


def soft_delete(project: Project) -> int:
    """Mark the project and its live milestones deleted; how many milestones went with it."""
    now = utcnow()
    removed = (
        Milestone.update(deleted_at=now, updated_at=now)
        .where((Milestone.project == project.id) & Milestone.deleted_at.is_null())
        .execute()
    )
    Project.update(deleted_at=now, updated_at=now).where(Project.id == project.id).execute()
    return removed


def soft_delete_all_owned(user_id: Any) -> int:
    """Mark every live project of a user and their live milestones deleted; how many projects."""
    now = utcnow()
    owned = Project.select(Project.id).where(owned_by(user_id))
    Milestone.update(deleted_at=now, updated_at=now).where(
        Milestone.project.in_(owned) & Milestone.deleted_at.is_null()
    ).execute()
    return Project.update(deleted_at=now, updated_at=now).where(owned_by(user_id)).execute()
