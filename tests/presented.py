"""The project and milestone use cases with their results shown as the contract shows them.

Service tests assert on the JSON a client sees; the services return rows and pages, which
``handlers.presenters`` turns into that JSON. This wraps one around the other.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from unittest.mock import ANY

from handlers.presenters import milestone_json, page_json, project_detail_json, project_json
from services import milestones as milestone_service
from services import projects as project_service
from store import milestones as milestone_store
from store import projects as project_store


def meta(total: int, page: int, limit: int) -> dict[str, object]:
    """A numbered page's meta; its ``nextCursor`` is checked by the cursor tests, not here."""
    return {"total": total, "page": page, "limit": limit, "totalPages": math.ceil(total / limit), "nextCursor": ANY}


projects = SimpleNamespace(
    SORT_KEYS=project_store.SORT_KEYS,
    list_projects=lambda *a, **k: page_json(project_service.list_projects(*a, **k), project_json),
    create_project=lambda *a, **k: project_json(project_service.create_project(*a, **k)),
    get_project=lambda *a, **k: project_detail_json(project_service.get_project(*a, **k)),
    update_project=lambda *a, **k: project_detail_json(project_service.update_project(*a, **k)),
    delete_project=project_service.delete_project,
    owned=project_service.owned,
    delete_all_owned_by=project_store.soft_delete_all_owned,
)
milestones = SimpleNamespace(
    SORT_KEYS=milestone_store.SORT_KEYS,
    list_milestones=lambda *a, **k: page_json(milestone_service.list_milestones(*a, **k), milestone_json),
    create_milestone=lambda *a, **k: milestone_json(milestone_service.create_milestone(*a, **k)),
    get_milestone=lambda *a, **k: milestone_json(milestone_service.get_milestone(*a, **k)),
    update_milestone=lambda *a, **k: milestone_json(milestone_service.update_milestone(*a, **k)),
    delete_milestone=milestone_service.delete_milestone,
)
