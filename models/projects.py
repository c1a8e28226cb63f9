"""Projects and their milestones, both soft-deleted."""

from __future__ import annotations

from peewee import CharField, Column, DateField, ForeignKeyField, IntegerField, TextField

from models.db import TimestampedModel, UTCDateTimeField
from models.users import User

PROJECT_STATUSES = ("active", "inactive")
MILESTONE_STATUSES = ("open", "done")


class Project(TimestampedModel):
    user = ForeignKeyField(User, backref="projects", index=True)
    name = CharField(max_length=255)
    description = TextField(null=True)
    status = CharField(max_length=16, default="active", index=True)
    deleted_at = UTCDateTimeField(null=True)
    # Bumped by every write to the project and to any of its milestones (its detail embeds them).
    version = IntegerField(default=1)

    class Meta:
        table_name = "projects"
        indexes = ((("created_at",), False),)


Project.add_index(
    Project.index(
        Project.user,
        Project.created_at,
        Project.id,
        where=Project.deleted_at.is_null(),
        name="projects_owner_created_idx",
    )
)
# One per list order (migrations/0005): the page comes straight from the index.
for _name, _key in (
    ("projects_owner_name_idx", (Project.name,)),
    ("projects_owner_updated_idx", (Project.updated_at,)),
    ("projects_owner_status_idx", (Project.status,)),
    ("projects_owner_status_created_idx", (Project.status, Project.created_at)),
):
    Project.add_index(Project.index(Project.user, *_key, Project.id, where=Project.deleted_at.is_null(), name=_name))
# The lists' exact counts (migrations/0008): no id at the end, so PostgreSQL deduplicates the key.
Project.add_index(
    Project.index(Project.user, Project.status, where=Project.deleted_at.is_null(), name="projects_owner_count_idx")
)

# PostgreSQL only: lower(name, a newline, description), kept by the database and trigram-indexed
# with the owner for search (migrations/0007). Not a field: nothing writes it, no select reads it.
PROJECT_SEARCH_TEXT = Column(Project, "search_text")


class Milestone(TimestampedModel):
    project = ForeignKeyField(Project, backref="milestones", index=True)
    title = CharField(max_length=255)
    description = TextField(null=True)
    due_date = DateField(null=True)
    status = CharField(max_length=16, default="open")
    deleted_at = UTCDateTimeField(null=True)
    version = IntegerField(default=1)  # bumped by every write to the milestone

    class Meta:
        table_name = "milestones"


Milestone.add_index(
    Milestone.index(
        Milestone.project,
        Milestone.due_date,
        Milestone.created_at,
        Milestone.id,
        where=Milestone.deleted_at.is_null(),
        name="milestones_project_due_idx",
    )
)
