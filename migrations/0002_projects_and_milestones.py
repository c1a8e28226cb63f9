"""Projects and milestones, with the indexes their list queries use."""


def upgrade(m) -> None:
    m.execute("""
    CREATE TABLE projects (
        id {uuid} NOT NULL PRIMARY KEY,
        user_id {uuid} NOT NULL REFERENCES users (id),
        name VARCHAR(255) NOT NULL,
        description TEXT,
        status VARCHAR(16) NOT NULL DEFAULT 'active',
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        deleted_at {ts}
    );
    CREATE INDEX projects_user_id ON projects (user_id);
    CREATE INDEX projects_status ON projects (status);
    CREATE INDEX projects_created_at ON projects (created_at);
    CREATE INDEX projects_owner_created_idx ON projects (user_id, created_at, id) WHERE deleted_at IS NULL;

    CREATE TABLE milestones (
        id {uuid} NOT NULL PRIMARY KEY,
        project_id {uuid} NOT NULL REFERENCES projects (id),
        title VARCHAR(255) NOT NULL,
        description TEXT,
        due_date DATE,
        status VARCHAR(16) NOT NULL DEFAULT 'open',
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        deleted_at {ts}
    );
    CREATE INDEX milestones_project_id ON milestones (project_id);
    CREATE INDEX milestones_project_due_idx ON milestones (project_id, due_date, created_at, id)
        WHERE deleted_at IS NULL
    """)
    if m.is_postgres:
        # Trigram indexes make `search` (ILIKE '%term%') an index scan on large tables.
        m.execute("""
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE INDEX projects_name_trgm ON projects USING gin (name gin_trgm_ops) WHERE deleted_at IS NULL;
        CREATE INDEX projects_description_trgm ON projects USING gin (description gin_trgm_ops) WHERE deleted_at IS NULL
        """)
