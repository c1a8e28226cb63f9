"""The numbered migrations build exactly the schema the models describe, idempotently."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from peewee import Database
from playhouse.schema_diff import diff_models

import migrations
from models import ALL_MODELS, db
from store.database import init_db

ROOT = Path(__file__).resolve().parents[2]
# What only PostgreSQL has (pg_trgm search, migrations/0007); the models stay backend-neutral.
POSTGRES_ONLY_INDEXES = {"projects_search_trgm"}
POSTGRES_ONLY_COLUMNS = {("projects", "search_text")}


def _is_postgres(database: Database) -> bool:
    return "postgres" in type(database.obj).__name__.lower()


def _nullable_by_column(database: Database, table: str) -> dict[str, bool]:
    return {column.name: column.null for column in database.get_columns(table)}


def _postgres_only(change: object) -> bool:
    """A schema difference that is one of PostgreSQL's extras."""
    return change in POSTGRES_ONLY_COLUMNS or any(name in str(change) for name in POSTGRES_ONLY_INDEXES)


def test_migrated_schema_matches_models(backend):
    init_db(backend)
    with db.connection_context():
        changes = [line for group in diff_models(db, ALL_MODELS) for line in (group or [])]
        drift = [line for line in changes if not (_is_postgres(db) and _postgres_only(line))]
        assert drift == []
        for model in ALL_MODELS:
            table = model._meta.table_name
            columns = _nullable_by_column(db, table)
            if _is_postgres(db):
                columns = {name: null for name, null in columns.items() if (table, name) not in POSTGRES_ONLY_COLUMNS}
            assert set(columns) == {field.column_name for field in model._meta.sorted_fields}, model
            for field in model._meta.sorted_fields:
                assert columns[field.column_name] == field.null, f"{model.__name__}.{field.name} nullability"


def test_trigram_indexes_exist_on_postgres_only(backend):
    init_db(backend)
    with db.connection_context():
        names = {index.name for index in db.get_indexes("projects")}
        expected = POSTGRES_ONLY_INDEXES if _is_postgres(db) else set()
    assert names & POSTGRES_ONLY_INDEXES == expected


def test_migrating_twice_changes_nothing(backend):
    init_db(backend)
    assert migrations.migrate(db) == []
    with db.connection_context():
        versions = [row[0] for row in db.execute_sql("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == migrations.available()


def test_fresh_sqlite_database_is_migrated_by_the_command(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin", "LOG_LEVEL": "WARNING"}
    first = subprocess.run([sys.executable, "manage.py", "migrate"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert f"applied {len(migrations.available())} migration(s)" in first.stdout
    again = subprocess.run([sys.executable, "manage.py", "migrate"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert "none (up to date)" in again.stdout


def test_concurrent_migrations_do_not_collide(backend, tmp_path):
    """Two `manage.py migrate` at once on an empty database: both succeed, each migration applied once."""
    if backend.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'race.db'}"
    else:
        from tests.conftest import recreate_postgres_database

        url = backend.rsplit("/", 1)[0] + "/" + backend.rsplit("/", 1)[1] + "_race"
        recreate_postgres_database(url)
    env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin", "LOG_LEVEL": "WARNING"}
    runs = [
        subprocess.Popen([sys.executable, "manage.py", "migrate"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    applied_counts = sorted(int(out.split("applied ")[1].split(" ")[0]) for out in outputs)
    assert applied_counts == [0, len(migrations.available())] or sum(applied_counts) == len(migrations.available())


def test_entity_versions_start_at_one_for_existing_rows(backend, tmp_path):
    """0010 adds ``version`` to rows written before it: they all start at 1, as new rows do."""
    if backend.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'v0010.db'}"
    else:
        from tests.conftest import recreate_postgres_database

        url = backend + "_v0010"
        recreate_postgres_database(url)
    init_db(url)
    before = [name for name in migrations.available() if name < "0010"]
    with db.connection_context():
        migrator = migrations.Migrator(db, migrations._dialect(db))
        for name in before:
            migrations._apply_one(db, migrator, name)
        param = db.param
        db.execute_sql(
            "INSERT INTO users (id, email, name, password_hash, role, created_at, updated_at)"
            f" VALUES ({', '.join([param] * 7)})",
            (USER_ID, "old@example.com", "Old", "x", "user", "2026-01-01 00:00:00", "2026-01-01 00:00:00"),
        )
        db.execute_sql(
            "INSERT INTO projects (id, user_id, name, status, created_at, updated_at)"
            f" VALUES ({', '.join([param] * 6)})",
            (PROJECT_ID, USER_ID, "Old", "active", "2026-01-01 00:00:00", "2026-01-01 00:00:00"),
        )
        db.execute_sql(
            "INSERT INTO milestones (id, project_id, title, status, created_at, updated_at)"
            f" VALUES ({', '.join([param] * 6)})",
            (MILESTONE_ID, PROJECT_ID, "Old", "open", "2026-01-01 00:00:00", "2026-01-01 00:00:00"),
        )
    assert "0010_entity_versions" in migrations.migrate(db)
    with db.connection_context():
        versions = [db.execute_sql(f"SELECT version FROM {table}").fetchall() for table in ("projects", "milestones")]
    assert versions == [[(1,)], [(1,)]]
    init_db(backend)


USER_ID, PROJECT_ID, MILESTONE_ID = (
    "0a0a0a0a-0000-4000-8000-000000000001",
    "0a0a0a0a-0000-4000-8000-000000000002",
    "0a0a0a0a-0000-4000-8000-000000000003",
)


def test_accounts_that_exist_before_0012_stay_enabled(tmp_path, monkeypatch):
    """Adding ``disabled_at`` and ``last_login_at`` to a table with users leaves them enabled, never logged in."""
    from peewee import SqliteDatabase

    database = SqliteDatabase(str(tmp_path / "before.db"))
    before = [name for name in migrations.available() if name < "0012"]
    monkeypatch.setattr(migrations, "available", lambda: before)
    migrations.migrate(database)
    with database.connection_context():
        database.execute_sql(
            "INSERT INTO users (id, email, password_hash, name, created_at, updated_at)"
            " VALUES ('u1', 'ann@example.com', 'x', 'Ann', '2026-01-01', '2026-01-01')"
        )
    monkeypatch.undo()
    assert migrations.migrate(database) == [name for name in migrations.available() if name >= "0012"]
    with database.connection_context():
        rows = database.execute_sql("SELECT email, disabled_at, last_login_at FROM users").fetchall()
    assert rows == [("ann@example.com", None, None)]
