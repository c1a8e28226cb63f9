"""Hot queries rendered to SQL once, then run with each request's values.

peewee renders a query's SQL from its expression tree every time it runs. For the reads every
request makes, that rendering cost more CPU than everything else the database layer does: of
the 1.1-1.5 ms a project detail spent in peewee, 0.45-0.6 ms was rendering its two SELECTs,
against 0.2-0.4 ms for psycopg2 to run them (bench/README.md, item 20).

Used for the session check, a project's detail and every list's count and page
(``services/paging.py``, one ``Prepared`` per shape of list query).

A ``Prepared`` query is still written with peewee, with a ``Slot`` wherever a request's value
goes. It is rendered on first use against the database the proxy is bound to (the parameter
style differs between PostgreSQL and SQLite) and kept. Each call binds the values by name,
each converted by the field it is compared with, exactly as peewee converts a plain value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from peewee import OP, SQL, ColumnBase, Context, Expression, Field, ModelRaw, ModelSelect, NodeList, Value

from models.db import db


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


def contains(field: Field, name: str) -> Expression:
    """``field`` contains the text bound to slot ``name``, case-insensitively, with ``%``, ``_`` and
    ``\\`` matching themselves (peewee's ``Field.contains`` escapes a term, not a slot)."""
    pattern = Slot(name, convert=_contains_pattern)
    return Expression(field, OP.ILIKE, NodeList((pattern, SQL("ESCAPE"), Value("\\", converter=False))))


def _contains_pattern(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"


class Prepared:
    """``build()`` returns a peewee select with ``Slot``s for the values that vary: of one model's
    columns for ``models`` and ``first`` (rows come back as that model), of anything for ``scalar``."""

    def __init__(self, build: Callable[[], ModelSelect]) -> None:
        self._build = build
        # By the database's class, not the database: holding a replaced pool would keep its connections open.
        self._rendered: dict[type, tuple[str, list[Any]]] = {}
        self._model: Any = None

    def _render(self) -> tuple[str, list[Any]]:
        dialect = type(db.obj)
        rendered = self._rendered.get(dialect)
        if rendered is None:
            query = self._build()
            self._model = query.model
            rendered = self._rendered[dialect] = query.sql()
        return rendered

    def _bound(self, values: dict[str, Any]) -> tuple[str, list[Any]]:
        """The SQL and its parameters for ``values`` (every slot named)."""
        sql, params = self._render()
        return sql, [p.bind(values) if isinstance(p, _Hole) else p for p in params]

    def models(self, **values: Any) -> ModelRaw:
        """The rows as model instances (iterate, or ``.get()`` for exactly one)."""
        sql, params = self._bound(values)
        return self._model.raw(sql, *params)

    def first(self, **values: Any) -> Any:
        """The first row as a model instance, or None."""
        return next(iter(self.models(**values)), None)

    def scalar(self, **values: Any) -> Any:
        """The first column of the first row, or None."""
        sql, params = self._bound(values)
        row = db.execute_sql(sql, params).fetchone()
        return row[0] if row else None
