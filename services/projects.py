"""Projects: the caller's own, soft-deleted, listed with search, filters and sorting.

Another user's project, a deleted one and a missing one are the same ``NotFound``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import Conflict, NotFound
from core.text import trim
from models import Milestone, Project
from services import audit, listing
from store import milestones as milestone_store
from store import projects as store
from store.database import writing
from store.paging import Page

DEFAULT_SORT = "-createdAt"
EMBEDDED_MILESTONES = 100


@dataclass(frozen=True)
class ProjectDetail:
    project: Project
    milestones: list[Milestone]


def owned(user_id: Any, project_id: Any, lock: store.Lock = None) -> Project:
    """The caller's live project. Raises NotFound."""
    project = store.get_owned(user_id, project_id, lock)
    if project is None:
        raise NotFound("Project")
    return project


def list_projects(
    user_id: Any,
    *,
    page: int | None = None,
    limit: int = 20,
    search: str | None = None,
    status: str | None = None,
    sort: str | None = None,
    cursor: str | None = None,
) -> Page:
    """One page of the caller's live projects, by number or after a cursor, with the cursor that
    follows it. Raises InvalidInput for an unknown sort key or a cursor not made for this list."""
    return listing.page_of(
        lambda **kw: store.page_of(user_id, limit=limit, **kw),
        scope=f"projects:{user_id}",
        cursor=cursor,
        page=page,
        sort=sort,
        default_sort=DEFAULT_SORT,
        filters={"search": search, "status": status},
    )


def detail(project: Project) -> ProjectDetail:
    """The project with its first live milestones (one query for all of them)."""
    return ProjectDetail(project, milestone_store.first_live(project.id, EMBEDDED_MILESTONES))


def create_project(user_id: Any, fields: Mapping[str, Any]) -> Project:
    """Create a project from ``{name, description?, status?}`` (the name trimmed)."""
    return store.add(user_id, trim(fields["name"]), fields.get("description"), fields.get("status") or "active")


def get_project(user_id: Any, project_id: Any) -> ProjectDetail:
    """The project with its live milestones. Raises NotFound."""
    return detail(owned(user_id, project_id))


def update_project(user_id: Any, project_id: Any, changes: Mapping[str, Any]) -> ProjectDetail:
    """Apply any of ``{name, description, status}`` (``description: None`` clears it). Raises NotFound."""
    values = dict(changes)
    if "name" in values:
        values["name"] = trim(values["name"])
    project = store.update_owned(user_id, project_id, values)
    if project is None:
        raise NotFound("Project")
    return detail(project)


def delete_project(user_id: Any, project_id: Any, *, cascade: bool = False) -> None:
    """Soft-delete a project (and, with ``cascade``, its live milestones) and audit it, in one transaction.

    Raises NotFound, or Conflict while it has live milestones and ``cascade`` is false.
    """
    with writing():
        # The lock makes a concurrent milestone create (which takes FOR SHARE) wait, so no
        # live milestone can appear under a project that is being deleted.
        project = owned(user_id, project_id, lock="update")
        if not cascade and store.has_live_milestones(project):
            raise Conflict("Project has live milestones; delete them first or pass cascade=true")
        removed = store.soft_delete(project)
        audit.record("project.deleted", user_id, "project", project.id, {"milestonesDeleted": removed})
