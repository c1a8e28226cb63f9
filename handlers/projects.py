"""Operations tagged `projects`: arguments in, one service call, body/status/headers out."""

from __future__ import annotations

from typing import Any

from services import projects


def list_projects(
    user: str,
    page: int = 1,
    limit: int = 20,
    search: str | None = None,
    status: str | None = None,
    sort: str = "-createdAt",
) -> dict[str, Any]:
    """One page of the caller's projects."""
    return projects.list_projects(user, page=page, limit=limit, search=search, status=status, sort=sort)


def create_project(user: str, body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """201 with the project and its Location."""
    project = projects.create_project(user, body)
    return project, 201, {"Location": f"/api/v1/projects/{project['id']}"}


def get_project(user: str, projectId: str) -> dict[str, Any]:
    """The project with its live milestones."""
    return projects.get_project(user, projectId)


def update_project(user: str, projectId: str, body: dict[str, Any]) -> dict[str, Any]:
    """The changed project, as GET returns it."""
    return projects.update_project(user, projectId, body)


def delete_project(user: str, projectId: str, cascade: bool = False) -> tuple[None, int]:
    """204; 409 while live milestones exist unless ``cascade``."""
    projects.delete_project(user, projectId, cascade=cascade)
    return None, 204
