"""The database proxy every model is bound to (``store/database.py`` binds it at start-up), and
the field and base classes the models share."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from peewee import DatabaseProxy, DateTimeField, Model, UUIDField

db = DatabaseProxy()


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
