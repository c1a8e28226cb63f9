"""A ``version`` on projects and milestones, bumped by every write to the row: what their entity tags
(``ETag``, ``If-Match``, ``If-None-Match``) are made of. A project's also moves with every write to one
of its milestones, since its detail embeds them. Existing rows start at 1, like new ones."""


def upgrade(m) -> None:
    m.execute("""
    ALTER TABLE projects ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE milestones ADD COLUMN version INTEGER NOT NULL DEFAULT 1
    """)
