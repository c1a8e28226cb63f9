"""Every use of peewee's private API, in one place: hot queries rendered once, and the pool and
SQLite connection tweaks. ``tests/unit/test_adapters.py`` pins each private name this module relies on.

Hot queries rendered to SQL once, then run with each request's values.

peewee renders a query's SQL from its expression tree every time it runs. For the reads every
request makes, that rendering cost more CPU than everything else the database layer does: of
the 1.1-1.5 ms a project detail spent in peewee, 0.45-0.6 ms was rendering its two SELECTs,
against 0.2-0.4 ms for psycopg2 to run them; rendering them once took detail from 284-342 to
372-410 req/s at 16 connections.

Used for the session check, a project's detail, every list's count and page
(``store/paging.py``, one ``Prepared`` per shape of list query), and the writes of a login
and a refresh: their reads, updates and inserts (``insert``, also every outbox row). A refresh
spent more of its CPU building its SQL than anything else; preparing it took its API CPU from
5.6-6.3 to 3.2-4.4 ms a request, and refresh from 230-246 to 394-400 req/s at 16 connections.

A ``Prepared`` query is still written with peewee, with a ``Slot`` wherever a request's value
goes. It is rendered on first use against the database the proxy is bound to (the parameter
style differs between PostgreSQL and SQLite) and kept. Each call binds the values by name,
each converted by the field it is compared with (or, for an INSERT's or UPDATE's values, the
field it is assigned to: ``slots``), exactly as peewee converts a plain value; rows come back
through the query's own cursor wrapper, so joined models are attached as peewee attaches them.
"""

from __future__ import annotations

import select
import sqlite3
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any

from peewee import (
    OP,
    SQL,
    ColumnBase,
    Context,
    Expression,
    Field,
    Model,
    Node,
    NodeList,
    Query,
    SqliteDatabase,
    Value,
    fn,
)
from playhouse.pool import PooledPostgresqlDatabase

from models.db import db

SQLITE_BUSY_TIMEOUT_MS = 5000


class Slot(ColumnBase):
    """A named hole for a value in a prepared query (``Project.id == Slot("id")``); ``convert``
    turns the value bound into what the query compares (before the field's own converter)."""

    def __init__(self, name: str, convert: Callable[[Any], Any] | None = None) -> None:
        super().__init__()
        self.name = name
        self.convert = convert

    def __sql__(self, ctx: Context) -> Context:
        # converter=False: the hole is kept as is; the field's converter runs when a value is bound.
        return ctx.value(_Hole(self.name, self.convert, ctx.state.converter), converter=False)


@dataclass(frozen=True)
class _Hole:
    name: str
    convert: Callable[[Any], Any] | None
    converter: Callable[[Any], Any] | None

    def bind(self, values: dict[str, Any]) -> Any:
        value = values[self.name]
        value = self.convert(value) if self.convert else value
        return self.converter(value) if self.converter else value


def contains(field: Node, name: str) -> Expression:
    """``field`` contains the text bound to slot ``name``, case-insensitively, with ``%``, ``_`` and
    ``\\`` matching themselves (peewee's ``Field.contains`` escapes a term, not a slot)."""
    return _like(field, OP.ILIKE, Slot(name, convert=_contains_pattern))


def contains_lowered(lowered: Node, name: str) -> Expression:
    """``contains`` for a column that already holds ``lower(text)``: ``ILIKE`` is ``lower(text) LIKE
    lower(pattern)``, so this matches the same rows without lowering each one again (PostgreSQL)."""
    return _like(lowered, OP.LIKE, fn.lower(Slot(name, convert=_contains_pattern)))


def _like(text: Node, op: str, pattern: Node) -> Expression:
    return Expression(text, op, NodeList((pattern, SQL("ESCAPE"), Value("\\", converter=False))))


def _contains_pattern(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"


class Prepared:
    """``build()`` returns a peewee query with ``Slot``s for the values that vary: a select for
    ``models``, ``first`` and ``scalar``, an INSERT, UPDATE or DELETE for ``execute``."""

    def __init__(self, build: Callable[[], Query]) -> None:
        self._build = build
        # By the database's class, not the database: holding a replaced pool would keep its connections open.
        self._rendered: dict[type, tuple[Query, str, list[Any]]] = {}

    def _render(self) -> tuple[Query, str, list[Any]]:
        dialect = type(db.obj)
        rendered = self._rendered.get(dialect)
        if rendered is None:
            query = self._build()
            rendered = self._rendered[dialect] = (query, *query.sql())
        return rendered

    def _run(self, values: dict[str, Any]) -> tuple[Query, Any]:
        """The query and the cursor it ran on, with ``values`` (every slot named) bound."""
        query, sql, params = self._render()
        bound = [p.bind(values) if isinstance(p, _Hole) else p for p in params]
        return query, db.execute_sql(sql, bound)

    def models(self, **values: Any) -> Iterator[Any]:
        """The rows as peewee's own query returns them (model instances, joined models attached)."""
        query, cursor = self._run(values)
        return iter(query._get_cursor_wrapper(cursor))  # the rows are read the way query.execute() reads them

    def first(self, **values: Any) -> Any:
        """The first row as a model instance, or None."""
        return next(self.models(**values), None)

    def scalar(self, **values: Any) -> Any:
        """The first column of the first row, or None."""
        _, cursor = self._run(values)
        row = cursor.fetchone()
        return row[0] if row else None

    def execute(self, **values: Any) -> int:
        """Run an INSERT, UPDATE or DELETE; how many rows it changed."""
        _, cursor = self._run(values)
        return cursor.rowcount


def slots(*fields: Field) -> dict[Field, Slot]:
    """Each field's value as a slot of the field's name, for an INSERT's or UPDATE's values
    (``Session.update(slots(Session.last_used_at))``). Converted by the field, as peewee converts
    a plain value there."""
    return {field: Slot(field.name, convert=field.db_value) for field in fields}


_BY_SHAPE: dict[Hashable, Prepared] = {}


def prepared(shape: Hashable, build: Callable[[], Query]) -> Prepared:
    """The ``Prepared`` for a query whose shape varies by request (a list's filters and order, a
    PATCH's fields), built on first use. ``shape`` names the shape, never a value: the table must
    not grow with users, pages or search terms."""
    query = _BY_SHAPE.get(shape)
    if query is None:
        query = _BY_SHAPE[shape] = Prepared(build)
    return query


def insert(row: Model) -> Model:
    """Save a new row (every column, its defaults already filled in by the model), with the
    INSERT rendered once per model: what ``Model.create`` does, for the rows hot paths write."""
    model = type(row)
    fields = model._meta.sorted_fields
    prepared(("insert", model), lambda: model.insert(slots(*fields))).execute(
        **{field.name: row.__data__.get(field.name) for field in fields}
    )
    row._dirty.clear()
    return row


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


class WalSqliteDatabase(SqliteDatabase):
    """SQLite whose connect waits out a concurrent switch to WAL.

    Turning a new file into WAL takes an exclusive lock, and a connection that finds it
    taken gets "database is locked" at once: SQLite skips the busy handler there, since
    waiting could deadlock. Two processes starting on a fresh file (two ``manage.py
    migrate``, the API and a worker) hit it, so the pragmas are retried for the busy timeout.
    """

    def _set_pragmas(self, conn: sqlite3.Connection) -> None:
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                super()._set_pragmas(conn)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)


def pool_usage(database: Any) -> tuple[int, int] | None:
    """(connections checked out, pool size) of a peewee pool, which keeps them in ``_in_use`` and
    ``_max_connections`` (no public counter); None for a database without a pool."""
    in_use = getattr(database, "_in_use", None)
    if in_use is None:
        return None
    return len(in_use), getattr(database, "_max_connections", 0) or 0
