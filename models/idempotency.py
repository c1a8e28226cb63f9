"""Idempotency keys: a client's key for one create, with the response it got (services/idempotency.py)."""

from __future__ import annotations

from peewee import CharField, ForeignKeyField, IntegerField, TextField, UUIDField

from models.db import BaseModel, UTCDateTimeField, utcnow
from models.users import User

IN_PROGRESS, DONE = "in_progress", "done"


class IdempotencyKey(BaseModel):
    # The unique (user, operation, key) index leads with user_id: no index of its own.
    user = ForeignKeyField(User, backref="+", on_delete="CASCADE", column_name="user_id", index=False)
    operation = CharField(max_length=64)  # the operationId
    key = CharField(max_length=255, column_name="idempotency_key")
    fingerprint = CharField(max_length=64)  # SHA-256 (hex) of the request: body and path parameters
    state = CharField(max_length=16, default=IN_PROGRESS)
    claim_id = UUIDField(null=True)  # the request working under the key (in progress only)
    locked_until = UTCDateTimeField(null=True)  # its lease: after it, another request may take over
    response_status = IntegerField(null=True)
    response_body = TextField(null=True)  # JSON
    response_headers = TextField(null=True)  # JSON: the headers that describe the response (Location, ETag)
    created_at = UTCDateTimeField(default=utcnow)
    expires_at = UTCDateTimeField()

    class Meta:
        table_name = "idempotency_keys"


IdempotencyKey.add_index(
    IdempotencyKey.index(
        IdempotencyKey.user,
        IdempotencyKey.operation,
        IdempotencyKey.key,
        unique=True,
        name="idempotency_keys_user_operation_key",
    )
)
IdempotencyKey.add_index(IdempotencyKey.index(IdempotencyKey.expires_at, name="idempotency_keys_expires_at"))
