"""Operations tagged `milestones`: arguments in, one service call, body/status/headers out."""

from __future__ import annotations

from typing import Any

from services import milestones


def list_milestones(
    user: str, projectId: str, page: int = 1, limit: int = 20, status: str | None = None, sort: str = "dueDate"
) -> dict[str, Any]:
    """One page of a project's milestones."""
    return milestones.list_milestones(user, projectId, page=page, limit=limit, status=status, sort=sort)


def create_milestone(user: str, projectId: str, body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """201 with the milestone and its Location."""
    milestone = milestones.create_milestone(user, projectId, body)
    return milestone, 201, {"Location": f"/api/v1/projects/{milestone['projectId']}/milestones/{milestone['id']}"}


def get_milestone(user: str, projectId: str, milestoneId: str) -> dict[str, Any]:
    return milestones.get_milestone(user, projectId, milestoneId)


def update_milestone(user: str, projectId: str, milestoneId: str, body: dict[str, Any]) -> dict[str, Any]:
    return milestones.update_milestone(user, projectId, milestoneId, body)


def delete_milestone(user: str, projectId: str, milestoneId: str) -> tuple[None, int]:
    milestones.delete_milestone(user, projectId, milestoneId)
    return None, 204
