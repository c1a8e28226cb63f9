"""Operations tagged `projects`: arguments in, one service call, body/status/headers out."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from connexion import request

from handlers.presenters import Reply, page_json, project_detail_json, project_json, reply_once
from services import projects
from services.idempotency import StoredResponse
from web.preconditions import PROJECT, PROJECT_DETAIL, etag, expected_versions, none_match


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


def _if_match() -> Collection[int] | None:
    # The 201's tag (the `Project` body) names the same stored version as the detail's.
    return expected_versions(request.headers.get("if-match"), PROJECT_DETAIL, PROJECT)


def create_project(user: str, body: dict[str, Any]) -> Reply:
    """201 with the project, its tag and its Location; once per ``Idempotency-Key``."""

    def create() -> StoredResponse:
        project = projects.create_project(user, body)
        headers = {"Location": f"/api/v1/projects/{project.id}", "ETag": etag(PROJECT, project.version)}
        return StoredResponse(201, project_json(project), headers)

    return reply_once(user, "create_project", request.headers.get("Idempotency-Key"), {"body": body}, create)


def get_project(user: str, projectId: str) -> Reply:
    """The project with its live milestones; 304 if the caller's ``If-None-Match`` holds its tag."""
    detail = projects.get_project(user, projectId)
    tag = etag(PROJECT_DETAIL, detail.project.version)
    if none_match(request.headers.get("if-none-match"), tag):
        return None, 304, {"ETag": tag}
    return project_detail_json(detail), 200, {"ETag": tag}


def update_project(user: str, projectId: str, body: dict[str, Any]) -> Reply:
    """The changed project, as GET returns it; 412 if ``If-Match`` names another version."""
    detail = projects.update_project(user, projectId, body, expected_versions=_if_match())
    return project_detail_json(detail), 200, {"ETag": etag(PROJECT_DETAIL, detail.project.version)}


def delete_project(user: str, projectId: str, cascade: bool = False) -> Reply:
    """204; 409 while live milestones exist unless ``cascade``; 412 if ``If-Match`` names another version."""
    projects.delete_project(user, projectId, cascade=cascade, expected_versions=_if_match())
    return None, 204, {}
