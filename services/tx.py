"""Write transactions and row locks that behave alike on PostgreSQL and SQLite.

PostgreSQL: a plain transaction, and ``SELECT … FOR UPDATE``/``FOR SHARE`` where
a read decides a write (e.g. "no live milestones, so delete the project").
SQLite has no row locks; ``BEGIN IMMEDIATE`` takes the single write lock up
front instead, so a read-then-write transaction cannot fail half-way with
``database is locked`` when another writer got in between.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from peewee import Select

from models.db import db, is_postgres


def writing() -> AbstractContextManager:
    """A transaction for a use case that writes (a savepoint when already inside one)."""
    return db.atomic() if is_postgres() else db.atomic("IMMEDIATE")


def locked(query: Select, *, share: bool = False) -> Select:
    """``query`` with ``FOR UPDATE`` (or ``FOR SHARE``) on PostgreSQL; unchanged on SQLite."""
    if not is_postgres():
        return query
    return query.for_update("FOR SHARE" if share else "FOR UPDATE")
