"""Sample data: the demo account (``make seed``).

``demo@cairn.local`` / ``Demo-Passw0rd`` with a handful of projects and milestones; loading it
again adds nothing. The benchmark's large data set is ``bench/seed.py`` (``make seed-large``).
"""

from __future__ import annotations

from typing import Any

from core.passwords import hash_password
from models import Project, User
from models.db import utcnow
from services import milestones, projects
from store import projects as project_store
from store import users
from store.database import writing

DEMO_EMAIL = "demo@cairn.local"
DEMO_PASSWORD = "Demo-Passw0rd"

DEMO_PROJECTS = [
    {
        "name": "Summit route survey",
        "description": "Map the north ridge before the season opens.",
        "milestones": [
            {"title": "Scout the approach", "dueDate": "2026-12-15"},
            {"title": "Fix the anchors", "dueDate": "2027-01-20", "status": "done"},
            {"title": "Publish the map", "description": "PDF and GPX."},
        ],
    },
    {
        "name": "Hut renovation",
        "description": "New roof, stove and bunks for the Col hut.",
        "milestones": [
            {"title": "Order the timber", "dueDate": "2026-10-01", "status": "done"},
            {"title": "Replace the roof", "dueDate": "2027-06-30"},
        ],
    },
    {"name": "Trail signage", "description": None, "status": "inactive", "milestones": []},
    {
        "name": "Avalanche training 100% booked",
        "description": "Two weekends, 12 places each.",
        "milestones": [{"title": "Send the kit list", "dueDate": "2026-12-01"}],
    },
]


def load_demo() -> str:
    """Create the demo user and the sample projects it lacks; safe to run again."""
    with writing():
        user = users.live_by_email(DEMO_EMAIL) or _create_demo_user()
        have = project_store.names_owned(user.id)
        added = [_add_demo_project(user.id, sample) for sample in DEMO_PROJECTS if sample["name"] not in have]
    return f"demo user {DEMO_EMAIL} (password {DEMO_PASSWORD}): {len(added)} project(s) added"


def _create_demo_user() -> User:
    now = utcnow()
    user = users.add(DEMO_EMAIL, hash_password(DEMO_PASSWORD), "Demo User", now)
    return users.update(user.id, now, email_verified_at=now)


def _add_demo_project(user_id: Any, sample: dict[str, Any]) -> Project:
    fields = {key: sample[key] for key in ("name", "description", "status") if key in sample}
    project = projects.create_project(user_id, fields)
    for milestone in sample["milestones"]:
        milestones.create_milestone(user_id, project.id, milestone)
    return project
