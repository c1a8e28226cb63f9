"""Operations tagged `projects`: arguments in, one service call, body/status/headers out."""

from __future__ import annotations

from typing import Any

from connexion import request

from handlers.presenters import Reply, page_json, project_detail_json, project_json, reply_once
from services import projects
from services.idempotency import StoredResponse


def list_projects(
    user: str,
    page: int | None = None,
    limit: int = 20,
    search: str | None = None,
    status: str | None = None,
    sort: str | None = None,
    cursor: str | None = None,
) -> Reply:
    """One page of the caller's projects, by number or after a cursor."""
    found = projects.list_projects(user, page=page, limit=limit, search=search, status=status, sort=sort, cursor=cursor)
    return page_json(found, project_json), 200, {}


def create_project(user: str, body: dict[str, Any]) -> Reply:
    """201 with the project and its Location; once per ``Idempotency-Key``."""

    def create() -> StoredResponse:
        project = projects.create_project(user, body)
        return StoredResponse(201, project_json(project), f"/api/v1/projects/{project.id}")

    return reply_once(user, "create_project", request.headers.get("Idempotency-Key"), {"body": body}, create)


def get_project(user: str, projectId: str) -> Reply:
    """The project with its live milestones."""
    return project_detail_json(projects.get_project(user, projectId)), 200, {}


def update_project(user: str, projectId: str, body: dict[str, Any]) -> Reply:
    """The changed project, as GET returns it."""
    return project_detail_json(projects.update_project(user, projectId, body)), 200, {}


def delete_project(user: str, projectId: str, cascade: bool = False) -> Reply:
    """204; 409 while live milestones exist unless ``cascade``."""
    projects.delete_project(user, projectId, cascade=cascade)
    return None, 204, {}
