"""Projects: the caller's own, soft-deleted, listed with search, filters and sorting.

Another user's project, a deleted one and a missing one are the same ``NotFound``.

Every write moves a project's ``version`` (so does every write to one of its milestones, whose
use cases bump it in their transaction). A write given ``expected_versions`` happens only if the
current version is one of them, checked in the same atomic step as the write; otherwise it raises
``PreconditionFailed`` and changes nothing. ``None`` means unconditional.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import Conflict, NotFound, PreconditionFailed
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


def require_version(version: int, expected_versions: Collection[int] | None) -> None:
    """Raises PreconditionFailed unless ``version`` is expected (anything is, without expectations)."""
    if expected_versions is not None and version not in expected_versions:
        raise PreconditionFailed()


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


def update_project(
    user_id: Any, project_id: Any, changes: Mapping[str, Any], *, expected_versions: Collection[int] | None = None
) -> ProjectDetail:
    """Apply any of ``{name, description, status}`` (``description: None`` clears it).

    Raises NotFound, or PreconditionFailed if the version is not one of ``expected_versions``.
    """
    values = dict(changes)
    if "name" in values:
        values["name"] = trim(values["name"])
    # The version check is in the UPDATE's own WHERE: of two writers expecting one version, one wins.
    project = store.update_owned(user_id, project_id, values, expected_versions)
    if project is None:
        if expected_versions is not None and store.get_owned(user_id, project_id) is not None:
            raise PreconditionFailed()
        raise NotFound("Project")
    # Read after the UPDATE: the milestones are never older than the version the project row says
    # (a milestone write bumps that version in its transaction), so a newer list only comes with a
    # version that is already stale, and no version ever names a different list.
    return detail(project)


def delete_project(
    user_id: Any, project_id: Any, *, cascade: bool = False, expected_versions: Collection[int] | None = None
) -> None:
    """Soft-delete a project (and, with ``cascade``, its live milestones) and audit it, in one transaction.

    Raises NotFound, PreconditionFailed if the version is not one of ``expected_versions``, or
    Conflict while it has live milestones and ``cascade`` is false.
    """
    with writing():
        # The lock makes a concurrent milestone create (which bumps the project's version, an
        # UPDATE of its row) wait, so no live milestone can appear under a project being deleted;
        # and no write can slip between the version check and the delete.
        project = owned(user_id, project_id, lock="update")
        require_version(project.version, expected_versions)
        if not cascade and store.has_live_milestones(project):
            raise Conflict("Project has live milestones; delete them first or pass cascade=true")
        removed = store.soft_delete(project)
        audit.record("project.deleted", user_id, "project", project.id, {"milestonesDeleted": removed})
