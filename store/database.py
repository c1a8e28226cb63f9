"""Binding the models' database proxy to PostgreSQL (pooled) or SQLite, and the transactions and
row locks that behave alike on both.

PostgreSQL gets a connection pool (stale and dead idle connections are replaced at checkout), a
statement timeout and UTC sessions. SQLite runs in WAL mode with a busy timeout so the API, a
worker and beat can write at once. It has no row locks: ``BEGIN IMMEDIATE`` takes the single
write lock up front instead, so a read-then-write transaction cannot fail half-way with
``database is locked`` when another writer got in between.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from peewee import Database, Select
from playhouse.db_url import connect, register_database

from models.db import db
from store import adapter
from store.adapter import SQLITE_BUSY_TIMEOUT_MS, PooledPostgres, WalSqliteDatabase

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
    "foreign_keys": 1,
    "synchronous": "normal",
}

register_database(PooledPostgres, "postgres+pool", "postgresql+pool")
register_database(WalSqliteDatabase, "sqlite")


def _postgres_pool_url(url: str, max_connections: int, timeout: float) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("max_connections", str(max_connections))
    query.setdefault("stale_timeout", "300")
    query.setdefault("timeout", str(timeout))
    return urlunsplit(("postgres+pool", parts.netloc, parts.path, urlencode(query), ""))


def make_database(
    url: str, *, pool_size: int = 10, pool_timeout: float = 2.0, statement_timeout_ms: int = 5000
) -> Database:
    """Open (lazily) the database named by a URL."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return connect(url, pragmas=SQLITE_PRAGMAS, timeout=5, autoconnect=True)
    options = f"-c statement_timeout={statement_timeout_ms} -c timezone=UTC"
    return connect(
        _postgres_pool_url(url, pool_size, pool_timeout),
        options=options,
        connect_timeout=3,
        autoconnect=True,
    )


def init_db(url: str, **kwargs) -> None:
    """Bind the proxy to the database named by ``url``."""
    db.initialize(make_database(url, **kwargs))


def is_postgres() -> bool:
    return "postgres" in type(db.obj).__name__.lower()


def writing() -> AbstractContextManager:
    """A transaction for a use case that writes (a savepoint when already inside one)."""
    return db.atomic() if is_postgres() else db.atomic("IMMEDIATE")


def locked(query: Select) -> Select:
    """``query`` with ``FOR UPDATE`` on PostgreSQL; unchanged on SQLite (its writers are serialised)."""
    if not is_postgres():
        return query
    return query.for_update("FOR UPDATE")


def pool_usage() -> tuple[int, int] | None:
    """(connections checked out, pool size) of this process's pool; None on SQLite."""
    return adapter.pool_usage(db.obj)


def parse_id(value: Any) -> uuid.UUID | None:
    """The UUID in ``value``, or None when it is not one (a malformed id finds nothing, never a 500)."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None
