"""Operations tagged `milestones`: arguments in, one service call, body/status/headers out."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from connexion import request

from handlers.presenters import Reply, milestone_json, page_json, reply_once
from services import milestones
from services.idempotency import StoredResponse
from web.preconditions import MILESTONE, etag, expected_versions, none_match


def list_milestones(
    user: str,
    projectId: str,
    page: int | None = None,
    limit: int = 20,
    status: str | None = None,
    sort: str | None = None,
    cursor: str | None = None,
) -> Reply:
    """One page of a project's milestones, by number or after a cursor."""
    found = milestones.list_milestones(user, projectId, page=page, limit=limit, status=status, sort=sort, cursor=cursor)
    return page_json(found, milestone_json), 200, {}


def _if_match() -> Collection[int] | None:
    return expected_versions(request.headers.get("if-match"), MILESTONE)


def create_milestone(user: str, projectId: str, body: dict[str, Any]) -> Reply:
    """201 with the milestone, its tag and its Location; once per ``Idempotency-Key``."""

    def create() -> StoredResponse:
        milestone = milestones.create_milestone(user, projectId, body)
        location = f"/api/v1/projects/{milestone.project_id}/milestones/{milestone.id}"
        return StoredResponse(
            201, milestone_json(milestone), {"Location": location, "ETag": etag(MILESTONE, milestone.version)}
        )

    key = request.headers.get("Idempotency-Key")
    return reply_once(user, "create_milestone", key, {"projectId": projectId.lower(), "body": body}, create)


def get_milestone(user: str, projectId: str, milestoneId: str) -> Reply:
    """The milestone; 304 if the caller's ``If-None-Match`` holds its tag."""
    milestone = milestones.get_milestone(user, projectId, milestoneId)
    tag = etag(MILESTONE, milestone.version)
    if none_match(request.headers.get("if-none-match"), tag):
        return None, 304, {"ETag": tag}
    return milestone_json(milestone), 200, {"ETag": tag}


def update_milestone(user: str, projectId: str, milestoneId: str, body: dict[str, Any]) -> Reply:
    """The changed milestone; 412 if ``If-Match`` names another version."""
    milestone = milestones.update_milestone(user, projectId, milestoneId, body, expected_versions=_if_match())
    return milestone_json(milestone), 200, {"ETag": etag(MILESTONE, milestone.version)}


def delete_milestone(user: str, projectId: str, milestoneId: str) -> Reply:
    """204; 412 if ``If-Match`` names another version."""
    milestones.delete_milestone(user, projectId, milestoneId, expected_versions=_if_match())
    return None, 204, {}
