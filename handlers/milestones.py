"""Operations tagged `milestones`: arguments in, one service call, body/status/headers out."""

from __future__ import annotations

from typing import Any

from connexion import request

from handlers.presenters import Reply, milestone_json, page_json, reply_once
from services import milestones
from services.idempotency import StoredResponse


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


def create_milestone(user: str, projectId: str, body: dict[str, Any]) -> Reply:
    """201 with the milestone and its Location; once per ``Idempotency-Key``."""

    def create() -> StoredResponse:
        milestone = milestones.create_milestone(user, projectId, body)
        location = f"/api/v1/projects/{milestone.project_id}/milestones/{milestone.id}"
        return StoredResponse(201, milestone_json(milestone), location)

    key = request.headers.get("Idempotency-Key")
    return reply_once(user, "create_milestone", key, {"projectId": projectId.lower(), "body": body}, create)


def get_milestone(user: str, projectId: str, milestoneId: str) -> Reply:
    return milestone_json(milestones.get_milestone(user, projectId, milestoneId)), 200, {}


def update_milestone(user: str, projectId: str, milestoneId: str, body: dict[str, Any]) -> Reply:
    return milestone_json(milestones.update_milestone(user, projectId, milestoneId, body)), 200, {}


def delete_milestone(user: str, projectId: str, milestoneId: str) -> Reply:
    milestones.delete_milestone(user, projectId, milestoneId)
    return None, 204, {}
