"""Numbered schema migrations: ``migrations/NNNN_<what>.py``, each with ``upgrade(m)``.

Applied in order by ``python manage.py migrate`` (``make migrate``), each in its
own transaction together with its row in ``schema_migrations``, so a run that
fails half-way leaves no half-applied file and running twice changes nothing.
On PostgreSQL an advisory lock keeps two concurrent runs from colliding; on
SQLite ``BEGIN IMMEDIATE`` does the same.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path

from peewee import Database

log = logging.getLogger("cairn.migrations")

MIGRATIONS_DIR = Path(__file__).parent
ADVISORY_LOCK_KEY = 0x43A1_2217
TYPES = {
    "postgres": {"uuid": "UUID", "ts": "TIMESTAMPTZ"},
    "sqlite": {"uuid": "VARCHAR(40)", "ts": "DATETIME"},
}


@dataclass
class Migrator:
    """What a migration file sees: the database, its dialect, and ``execute``."""

    db: Database
    dialect: str

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgres"

    def execute(self, sql: str) -> None:
        """Run DDL with ``{uuid}``/``{ts}`` placeholders filled in for this dialect."""
        for statement in sql.format(**TYPES[self.dialect]).split(";"):
            if statement.strip():
                self.db.execute_sql(statement)


def available() -> list[str]:
    return sorted(p.stem for p in MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.py"))


def _dialect(db: Database) -> str:
    real = getattr(db, "obj", None) or db  # unwrap a DatabaseProxy
    return "postgres" if "postgres" in type(real).__name__.lower() else "sqlite"


def _ensure_table(db: Database) -> None:
    db.execute_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version VARCHAR(128) PRIMARY KEY, applied_at VARCHAR(40) NOT NULL)"
    )


def applied(db: Database) -> set[str]:
    _ensure_table(db)
    return {row[0] for row in db.execute_sql("SELECT version FROM schema_migrations").fetchall()}


def _apply_one(db: Database, migrator: Migrator, name: str) -> bool:
    with db.atomic("IMMEDIATE") if migrator.dialect == "sqlite" else db.atomic():
        if name in applied(db):
            return False
        importlib.import_module(f"migrations.{name}").upgrade(migrator)
        db.execute_sql(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (%s, CURRENT_TIMESTAMP)".replace(
                "%s", db.param
            ),
            (name,),
        )
    return True


def migrate(db: Database) -> list[str]:
    """Apply every migration not applied yet; return the names applied now."""
    migrator = Migrator(db, _dialect(db))
    done: list[str] = []
    with db.connection_context():
        if migrator.is_postgres:
            db.execute_sql("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            _ensure_table(db)
            for name in available():
                if _apply_one(db, migrator, name):
                    log.info("applied migration %s", name)
                    done.append(name)
        finally:
            if migrator.is_postgres:
                db.execute_sql("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    return done
