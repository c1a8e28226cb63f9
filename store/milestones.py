"""Milestones of one of the caller's live projects, soft-deleted like their project.

Every query goes through the project's ownership, so a milestone of another user's project, or
of a deleted one, finds nothing, like a missing one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from peewee import Expression, Select

from models import Milestone, Project
from models.db import utcnow
from store.adapter import Prepared, Slot, insert
from store.database import locked, parse_id
from store.paging import Listing, Page, SortKey, after, ordering, paginate
from store.projects import owned_by

SORT_KEYS = {
    "title": SortKey(Milestone.title),
    "dueDate": SortKey(Milestone.due_date, nulls_last=True),
    "createdAt": SortKey(Milestone.created_at),
    "updatedAt": SortKey(Milestone.updated_at),
    "status": SortKey(Milestone.status),
}
# The order embedded in a project's detail (served by milestones_project_due_idx).
DETAIL_ORDER = (Milestone.due_date.asc(nulls="LAST"), Milestone.created_at.asc(), Milestone.id.asc())


def _live_in(project_id: Any) -> Expression:
    return (Milestone.project == project_id) & Milestone.deleted_at.is_null()


FIRST_LIVE = Prepared(
    lambda: Milestone.select().where(_live_in(Slot("project"))).order_by(*DETAIL_ORDER).limit(Slot("limit"))
)


def first_live(project_id: Any, limit: int) -> list[Milestone]:
    """The first ``limit`` live milestones of a project, by due date (nulls last), creation, id."""
    return list(FIRST_LIVE.models(project=project_id, limit=limit))


def get_owned(user_id: Any, project_id: Any, milestone_id: Any, *, lock: bool = False) -> Milestone | None:
    """A live milestone of the caller's live project, or None; with ``lock``, it and its project are row-locked."""
    pid, mid = parse_id(project_id), parse_id(milestone_id)
    if pid is None or mid is None:
        return None
    query = Milestone.select(Milestone).join(Project).where((Milestone.id == mid) & _live_in(pid) & owned_by(user_id))
    return (locked(query) if lock else query).first()


def page_of(
    project: Project, *, page: int, limit: int, sort: str, status: str | None = None, last: tuple | None = None
) -> Page:
    """One page of a project's live milestones, numbered or after ``last``. Raises InvalidInput for an
    unknown sort key."""

    def query() -> Select:
        condition = _live_in(Slot("project"))
        if status:
            condition &= Milestone.status == Slot("status")
        return Milestone.select().where(condition)

    listing = Listing(query, ("milestones", bool(status)), {"project": project.id, "status": status})
    if last is not None:
        return after(listing, sort, SORT_KEYS, Milestone.id, last, limit)
    return paginate(listing, ordering(sort, SORT_KEYS, Milestone.id), page, limit)


def add(project: Project, title: str, description: str | None, due_date: date | None, status: str) -> Milestone:
    """Insert a milestone into the (locked) project."""
    now = utcnow()
    milestone = Milestone(
        created_at=now,
        updated_at=now,
        project=project.id,
        title=title,
        description=description,
        due_date=due_date,
        status=status,
    )
    return insert(milestone)


def update(milestone: Milestone, values: Mapping[str, Any]) -> Milestone:
    """Set ``values`` (field names), move ``updated_at`` and bump ``version`` of the (locked) milestone."""
    for name, value in values.items():
        setattr(milestone, name, value)
    milestone.touch()
    milestone.version += 1
    milestone.save(only=[Milestone._meta.fields[name] for name in (*values, "updated_at", "version")])
    return milestone


def soft_delete(milestone: Milestone) -> None:
    now = utcnow()
    Milestone.update(
        {Milestone.deleted_at: now, Milestone.updated_at: now, Milestone.version: Milestone.version + 1}
    ).where(Milestone.id == milestone.id).execute()
