"""Milestones of one of the caller's projects, soft-deleted like their project.

Every write moves the milestone's ``version`` and, in the same transaction, its project's (the
project's detail embeds its milestones). ``expected_versions`` works as for projects.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date
from typing import Any

from core.errors import InvalidInput, NotFound
from core.text import trim
from models import Milestone
from services import listing
from services.projects import owned, require_version
from store import milestones as store
from store import projects as project_store
from store.database import writing
from store.paging import Page

DEFAULT_SORT = "dueDate"
FIELDS = {"title": "title", "description": "description", "dueDate": "due_date", "status": "status"}


def _due_date(value: str | None) -> date | None:
    """Raises InvalidInput (``body.dueDate``) for a date that does not exist, e.g. 2026-02-30."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("body.dueDate", "is not a calendar date (YYYY-MM-DD)") from None


def _values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Contract fields → column values: the title trimmed, the due date parsed."""
    values = {FIELDS[name]: value for name, value in fields.items()}
    if "title" in values:
        values["title"] = trim(values["title"])
    if "due_date" in values:
        values["due_date"] = _due_date(values["due_date"])
    return values


def owned_milestone(user_id: Any, project_id: Any, milestone_id: Any, *, lock: bool = False) -> Milestone:
    """A live milestone of the caller's live project. Raises NotFound."""
    milestone = store.get_owned(user_id, project_id, milestone_id, lock=lock)
    if milestone is None:
        raise NotFound("Milestone")
    return milestone


def list_milestones(
    user_id: Any,
    project_id: Any,
    *,
    page: int | None = None,
    limit: int = 20,
    status: str | None = None,
    sort: str | None = None,
    cursor: str | None = None,
) -> Page:
    """One page of a project's live milestones, by number or after a cursor, with the cursor that
    follows it. Raises NotFound (project), InvalidInput (sort, cursor)."""
    project = owned(user_id, project_id)
    return listing.page_of(
        lambda **kw: store.page_of(project, limit=limit, **kw),
        scope=f"milestones:{user_id}:{project.id}",
        cursor=cursor,
        page=page,
        sort=sort,
        default_sort=DEFAULT_SORT,
        filters={"status": status},
    )


def create_milestone(user_id: Any, project_id: Any, fields: Mapping[str, Any]) -> Milestone:
    """Add ``{title, description?, dueDate?, status?}`` to a live project of the caller.

    Raises NotFound (project) or InvalidInput (an impossible date).
    """
    with writing():
        # Bumping the project's version row-locks it: a concurrent delete of the project waits
        # for us, then sees this milestone.
        project = project_store.bump_owned(user_id, project_id)
        if project is None:
            raise NotFound("Project")
        values = _values({"description": None, "dueDate": None, "status": "open", **fields})
        return store.add(project, **values)


def get_milestone(user_id: Any, project_id: Any, milestone_id: Any) -> Milestone:
    """Raises NotFound."""
    return owned_milestone(user_id, project_id, milestone_id)


def update_milestone(
    user_id: Any,
    project_id: Any,
    milestone_id: Any,
    changes: Mapping[str, Any],
    *,
    expected_versions: Collection[int] | None = None,
) -> Milestone:
    """Apply any of ``{title, description, dueDate, status}`` (null clears description and dueDate).

    Raises NotFound, PreconditionFailed if the version is not one of ``expected_versions``, or
    InvalidInput for an impossible date.
    """
    with writing():
        # Locked (it and its project) until the commit: nothing changes between the check and the write.
        milestone = owned_milestone(user_id, project_id, milestone_id, lock=True)
        require_version(milestone.version, expected_versions)
        changed = store.update(milestone, _values(changes))
        project_store.bump(milestone.project_id)
        return changed


def delete_milestone(
    user_id: Any, project_id: Any, milestone_id: Any, *, expected_versions: Collection[int] | None = None
) -> None:
    """Soft-delete a milestone. Raises NotFound, or PreconditionFailed if the version is not one of
    ``expected_versions``."""
    with writing():
        milestone = owned_milestone(user_id, project_id, milestone_id, lock=True)
        require_version(milestone.version, expected_versions)
        store.soft_delete(milestone)
        project_store.bump(milestone.project_id)
