"""Milestones of one of the caller's projects, soft-deleted like their project.

Every query goes through the project's ownership check, so a milestone of
another user's project, or of a deleted one, is a 404 like a missing one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from peewee import Expression, Select

from core.errors import field_error, not_found
from core.formats import iso_date, rfc3339
from models import Milestone, Project
from models.db import utcnow
from models.prepared import Prepared, Slot
from services import projects
from services.paging import Listing, SortKey, ordering, paginate
from services.tx import locked, writing

SORT_KEYS = {
    "title": SortKey(Milestone.title),
    "dueDate": SortKey(Milestone.due_date, nulls_last=True),
    "createdAt": SortKey(Milestone.created_at),
    "updatedAt": SortKey(Milestone.updated_at),
    "status": SortKey(Milestone.status),
}
DEFAULT_SORT = "dueDate"
# The order embedded in a project's detail (served by milestones_project_due_idx).
DETAIL_ORDER = (Milestone.due_date.asc(nulls="LAST"), Milestone.created_at.asc(), Milestone.id.asc())
EMBEDDED = Prepared(
    lambda: Milestone.select().where(_live_in(Slot("project"))).order_by(*DETAIL_ORDER).limit(Slot("limit"))
)


def to_json(milestone: Milestone) -> dict[str, Any]:
    return {
        "id": str(milestone.id),
        "projectId": str(milestone.project_id),
        "title": milestone.title,
        "description": milestone.description,
        "dueDate": iso_date(milestone.due_date),
        "status": milestone.status,
        "createdAt": rfc3339(milestone.created_at),
        "updatedAt": rfc3339(milestone.updated_at),
    }


def _live_in(project_id: Any) -> Expression:
    return (Milestone.project == project_id) & Milestone.deleted_at.is_null()


def _due_date(value: str | None) -> date | None:
    """Raises VALIDATION_ERROR (``body.dueDate``) for a date that does not exist, e.g. 2026-02-30."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise field_error("body.dueDate", "is not a calendar date (YYYY-MM-DD)") from None


def embedded(project_id: Any, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` live milestones of a project, by due date (nulls last), creation, id."""
    return [to_json(milestone) for milestone in EMBEDDED.models(project=project_id, limit=limit)]


def find_owned(user_id: Any, project_id: Any, milestone_id: Any, *, lock: bool = False) -> Milestone:
    """A live milestone of the caller's live project; with ``lock``, it and its project are row-locked.

    Raises ApiError NOT_FOUND when either is missing, deleted or someone else's.
    """
    pid, mid = projects.parse_id(project_id), projects.parse_id(milestone_id)
    if pid is None or mid is None:
        raise not_found("Milestone")
    query = (
        Milestone.select(Milestone)
        .join(Project)
        .where((Milestone.id == mid) & _live_in(pid) & projects.owned_by(user_id))
    )
    milestone = (locked(query) if lock else query).first()
    if milestone is None:
        raise not_found("Milestone")
    return milestone


def list_milestones(
    user_id: Any,
    project_id: Any,
    *,
    page: int = 1,
    limit: int = 20,
    status: str | None = None,
    sort: str = DEFAULT_SORT,
) -> dict[str, Any]:
    """One page of a project's live milestones. Raises NOT_FOUND (project), VALIDATION_ERROR (sort)."""
    project = projects.find_owned(user_id, project_id)

    def query() -> Select:
        condition = _live_in(Slot("project"))
        if status:
            condition &= Milestone.status == Slot("status")
        return Milestone.select().where(condition)

    values = {"project": project.id, "status": status}
    order = ordering(sort, SORT_KEYS, Milestone.id)
    return paginate(Listing(query, ("milestones", bool(status)), values), order, page, limit, to_json)


def create_milestone(user_id: Any, project_id: Any, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Add ``{title, description?, dueDate?, status?}`` to a live project of the caller.

    Raises NOT_FOUND (project), VALIDATION_ERROR (blank title, impossible date).
    """
    with writing():
        # FOR SHARE: a concurrent delete of the project waits for us, then sees this milestone.
        project = projects.find_owned(user_id, project_id, lock=True, share=True)
        now = utcnow()
        milestone = Milestone.create(
            created_at=now,
            updated_at=now,
            project=project.id,
            title=projects.clean_title(fields["title"]),
            description=fields.get("description"),
            due_date=_due_date(fields.get("dueDate")),
            status=fields.get("status") or "open",
        )
    return to_json(milestone)


def get_milestone(user_id: Any, project_id: Any, milestone_id: Any) -> dict[str, Any]:
    """Raises NOT_FOUND."""
    return to_json(find_owned(user_id, project_id, milestone_id))


def update_milestone(user_id: Any, project_id: Any, milestone_id: Any, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Apply any of ``{title, description, dueDate, status}`` (null clears description and dueDate).

    Raises NOT_FOUND, or VALIDATION_ERROR for a blank title or an impossible date.
    """
    with writing():
        milestone = find_owned(user_id, project_id, milestone_id, lock=True)
        if "title" in changes:
            milestone.title = projects.clean_title(changes["title"])
        if "description" in changes:
            milestone.description = changes["description"]
        if "dueDate" in changes:
            milestone.due_date = _due_date(changes["dueDate"])
        if "status" in changes:
            milestone.status = changes["status"]
        milestone.touch()
        milestone.save(
            only=[Milestone.title, Milestone.description, Milestone.due_date, Milestone.status, Milestone.updated_at]
        )
    return to_json(milestone)


def delete_milestone(user_id: Any, project_id: Any, milestone_id: Any) -> None:
    """Soft-delete a milestone. Raises NOT_FOUND."""
    with writing():
        milestone = find_owned(user_id, project_id, milestone_id, lock=True)
        now = utcnow()
        Milestone.update(deleted_at=now, updated_at=now).where(Milestone.id == milestone.id).execute()
