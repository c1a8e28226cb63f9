"""The database handle: one proxy, bound at start-up to PostgreSQL or SQLite.

PostgreSQL gets a connection pool (stale and dead idle connections are
replaced at checkout by peewee 4), a statement timeout and UTC sessions.
SQLite runs in WAL mode with a busy timeout so the API, a worker and beat can
write at once.
"""

from __future__ import annotations

import select
import sqlite3
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from peewee import DatabaseProxy, DateTimeField, Model, SqliteDatabase, UUIDField
from playhouse.db_url import connect, register_database
from playhouse.pool import PooledPostgresqlDatabase

db = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 5000,
    "foreign_keys": 1,
    "synchronous": "normal",
}


class PooledPostgres(PooledPostgresqlDatabase):
    """peewee's pool, checking a connection at checkout without a round trip.

    peewee sends ``SELECT 1`` at every checkout: a round trip (and server work) on every request.
    A backend that was terminated (server restart, ``pg_terminate_backend``) has already sent its
    goodbye and closed the socket, which leaves the socket readable: a zero-timeout poll sees
    that for the price of a system call. Anything the server sent unasked discards the connection.
    """

    def _is_closed(self, conn) -> bool:
        if conn.closed or self._adapter.txn_status(conn) != self._adapter.txn_idle:
            return super()._is_closed(conn)  # closed, lost, or left in a transaction (rolled back there)
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
        return bool(poller.poll(0))


register_database(PooledPostgres, "postgres+pool", "postgresql+pool")


def _postgres_pool_url(url: str, max_connections: int, timeout: float) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("max_connections", str(max_connections))
    query.setdefault("stale_timeout", "300")
    query.setdefault("timeout", str(timeout))
    return urlunsplit(("postgres+pool", parts.netloc, parts.path, urlencode(query), ""))


class WalSqliteDatabase(SqliteDatabase):
    """SQLite whose connect waits out a concurrent switch to WAL.

    Turning a new file into WAL takes an exclusive lock, and a connection that finds it
    taken gets "database is locked" at once: SQLite skips the busy handler there, since
    waiting could deadlock. Two processes starting on a fresh file (two ``manage.py
    migrate``, the API and a worker) hit it, so the pragmas are retried for the busy timeout.
    """

    def _set_pragmas(self, conn: sqlite3.Connection) -> None:
        deadline = time.monotonic() + SQLITE_PRAGMAS["busy_timeout"] / 1000
        while True:
            try:
                super()._set_pragmas(conn)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)


register_database(WalSqliteDatabase, "sqlite")


def make_database(url: str, *, pool_size: int = 10, pool_timeout: float = 2.0, statement_timeout_ms: int = 5000):
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


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class UTCDateTimeField(DateTimeField):
    """Timestamps stored as UTC (TIMESTAMPTZ on PostgreSQL) and read back tz-aware."""

    field_type = "TIMESTAMPTZ"

    def db_value(self, value: datetime | None):
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return super().db_value(value)

    def python_value(self, value):
        value = super().python_value(value)
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        return value


class BaseModel(Model):
    id = UUIDField(primary_key=True, default=new_id)

    class Meta:
        database = db
        legacy_table_names = False


class TimestampedModel(BaseModel):
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    def touch(self) -> None:
        self.updated_at = utcnow()
