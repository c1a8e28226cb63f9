"""Projects: the caller's own, soft-deleted, listed with search, filters and sorting.

Ownership is part of every query: another user's project, a deleted one and a
missing one are the same 404, so existence never leaks.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from peewee import Expression, Select

from core.errors import ApiError, not_found
from core.formats import rfc3339
from core.text import trim
from models import Milestone, Project
from models.db import is_postgres, utcnow
from models.prepared import Prepared, Slot, contains, contains_lowered, insert, prepared, slots
from models.projects import PROJECT_SEARCH_TEXT
from services import audit, milestones
from services.paging import Listing, SortKey, ordering, paginate
from services.tx import locked, writing

SORT_KEYS = {
    "name": SortKey(Project.name),
    "createdAt": SortKey(Project.created_at),
    "updatedAt": SortKey(Project.updated_at),
    "status": SortKey(Project.status),
}
DEFAULT_SORT = "-createdAt"
EMBEDDED_MILESTONES = 100


def to_json(project: Project) -> dict[str, Any]:
    return {
        "id": str(project.id),
        "name": project.name,
        "description": project.description,
        "status": project.status,
        "createdAt": rfc3339(project.created_at),
        "updatedAt": rfc3339(project.updated_at),
    }


def clean_title(value: str) -> str:
    """A name or title without surrounding spaces (the schema guarantees something remains)."""
    return trim(value)


def parse_id(value: Any) -> uuid.UUID | None:
    """The UUID in ``value``, or None when it is not one (a malformed id finds nothing, never a 500)."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None


def owned_by(user_id: Any) -> Expression:
    """The condition for the caller's live projects."""
    return (Project.user == user_id) & Project.deleted_at.is_null()


def _owned_project(project_id: Any, user_id: Any) -> Expression:
    return (Project.id == project_id) & owned_by(user_id)


OWNED_PROJECT = Prepared(lambda: Project.select().where(_owned_project(Slot("id"), Slot("user"))))


def find_owned(user_id: Any, project_id: Any, *, lock: bool = False, share: bool = False) -> Project:
    """The caller's live project; with ``lock``, row-locked until the transaction ends.

    Raises ApiError NOT_FOUND when it is missing, deleted or someone else's.
    """
    pid = parse_id(project_id)
    if pid is None:
        raise not_found("Project")
    if lock:
        project = locked(Project.select().where(_owned_project(pid, user_id)), share=share).first()
    else:
        project = OWNED_PROJECT.first(id=pid, user=user_id)
    if project is None:
        raise not_found("Project")
    return project


def _search(slot: str) -> Expression:
    # The name or the description contains the term; %, _ and \ in it match themselves.
    if is_postgres():  # one lower-cased column for both, trigram-indexed (migrations/0007)
        return contains_lowered(PROJECT_SEARCH_TEXT, slot)
    # SQLite: its LIKE (what ILIKE becomes there) folds ASCII case only.
    return contains(Project.name, slot) | contains(Project.description, slot)


def list_projects(
    user_id: Any,
    *,
    page: int = 1,
    limit: int = 20,
    search: str | None = None,
    status: str | None = None,
    sort: str = DEFAULT_SORT,
) -> dict[str, Any]:
    """One page of the caller's live projects. Raises VALIDATION_ERROR for an unknown sort key."""

    def query() -> Select:
        condition = owned_by(Slot("user"))
        if search:
            condition &= _search("search")
        if status:
            condition &= Project.status == Slot("status")
        return Project.select().where(condition)

    values = {"user": user_id, "search": search, "status": status}
    order = ordering(sort, SORT_KEYS, Project.id)
    return paginate(Listing(query, ("projects", bool(search), bool(status)), values), order, page, limit, to_json)


def detail(project: Project) -> dict[str, Any]:
    """The project with its first live milestones (one query for all of them)."""
    return {**to_json(project), "milestones": milestones.embedded(project.id, EMBEDDED_MILESTONES)}


def create_project(user_id: Any, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Create a project from ``{name, description?, status?}``. Raises VALIDATION_ERROR for a blank name."""
    now = utcnow()
    # One INSERT, atomic on its own: no BEGIN and COMMIT round trips around it.
    project = insert(
        Project(
            created_at=now,
            updated_at=now,
            user=user_id,
            name=clean_title(fields["name"]),
            description=fields.get("description"),
            status=fields.get("status") or "active",
        )
    )
    return to_json(project)


def get_project(user_id: Any, project_id: Any) -> dict[str, Any]:
    """The project with its live milestones. Raises NOT_FOUND."""
    return detail(find_owned(user_id, project_id))


def update_project(user_id: Any, project_id: Any, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Apply any of ``{name, description, status}`` (``description: None`` clears it); ``updatedAt`` moves.

    Raises NOT_FOUND, or VALIDATION_ERROR for a blank name.
    """
    values: dict[str, Any] = {"updated_at": utcnow()}
    if "name" in changes:
        values["name"] = clean_title(changes["name"])
    if "description" in changes:
        values["description"] = changes["description"]
    if "status" in changes:
        values["status"] = changes["status"]
    # One UPDATE … RETURNING, atomic on its own (no BEGIN and COMMIT round trips): the row is
    # locked for that statement only, so concurrent edits of one project queue for a round trip,
    # not for a read-then-write. Rendered once per set of fields changed.
    fields = [Project._meta.fields[name] for name in values]
    update = prepared(
        ("update owned project", *values),
        lambda: (
            Project.update(slots(*fields))
            .where(_owned_project(Slot("id"), Slot("user")))
            .returning(Project)
            .objects(Project)
        ),
    )
    project = update.first(id=parse_id(project_id), user=user_id, **values)
    if project is None:
        raise not_found("Project")
    return detail(project)


def delete_project(user_id: Any, project_id: Any, *, cascade: bool = False) -> None:
    """Soft-delete a project (and, with ``cascade``, its live milestones) and audit it, in one transaction.

    Raises NOT_FOUND, or CONFLICT while it has live milestones and ``cascade`` is false.
    """
    with writing():
        # The lock makes a concurrent milestone create (which takes FOR SHARE) wait, so no
        # live milestone can appear under a project that is being deleted.
        project = find_owned(user_id, project_id, lock=True)
        live = Milestone.select().where((Milestone.project == project.id) & Milestone.deleted_at.is_null())
        if not cascade and live.exists():
            raise ApiError("CONFLICT", "Project has live milestones; delete them first or pass cascade=true")
        now = utcnow()
        removed = (
            Milestone.update(deleted_at=now, updated_at=now)
            .where((Milestone.project == project.id) & Milestone.deleted_at.is_null())
            .execute()
        )
        Project.update(deleted_at=now, updated_at=now).where(Project.id == project.id).execute()
        audit.record("project.deleted", user_id, "project", project.id, {"milestonesDeleted": removed})


def delete_all_owned_by(user_id: Any) -> int:
    """Soft-delete every live project of a user and their live milestones (account deletion).

    Runs in the caller's transaction when there is one; returns the number of projects deleted.
    """
    now = utcnow()
    with writing():
        owned = Project.select(Project.id).where(owned_by(user_id))
        Milestone.update(deleted_at=now, updated_at=now).where(
            Milestone.project.in_(owned) & Milestone.deleted_at.is_null()
        ).execute()
        return Project.update(deleted_at=now, updated_at=now).where(owned_by(user_id)).execute()
