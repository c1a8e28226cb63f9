"""The transactional outbox and the audit trail it feeds.

A request writes its outbox rows in the same transaction as its change; the
relay publishes them to Celery after commit (and again, periodically, for rows
that could not be published or whose claim lease ran out).
"""

from __future__ import annotations

from peewee import CharField, ForeignKeyField, IntegerField, TextField, UUIDField

from models.db import BaseModel, UTCDateTimeField, utcnow
from models.users import User

OUTBOX_STATES = ("pending", "dispatched", "processing", "done", "failed")


class OutboxMessage(BaseModel):
    task = CharField(max_length=64)
    queue = CharField(max_length=32)
    payload = TextField()
    topic = CharField(max_length=300, null=True)  # e.g. "verify_email:ann@example.com", for per-kind throttles
    state = CharField(max_length=16, default="pending")
    attempts = IntegerField(default=0)
    last_error = TextField(null=True)
    request_id = CharField(max_length=128, null=True)
    created_at = UTCDateTimeField(default=utcnow)
    available_at = UTCDateTimeField(default=utcnow)
    lease_until = UTCDateTimeField(null=True)
    claimed_by = CharField(max_length=64, null=True)  # the Celery task id holding the row (see services.outbox.claim)
    finished_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "outbox"


OutboxMessage.add_index(
    OutboxMessage.index(OutboxMessage.state, OutboxMessage.available_at, name="outbox_state_available_idx")
)
OutboxMessage.add_index(
    OutboxMessage.index(OutboxMessage.topic, OutboxMessage.created_at, name="outbox_topic_created_idx")
)


class AuditLog(BaseModel):
    action = CharField(max_length=64, index=True)
    actor = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL", column_name="actor_id")
    target_type = CharField(max_length=32, null=True)
    target_id = CharField(max_length=64, null=True)
    ip = CharField(max_length=64, null=True)
    user_agent = CharField(max_length=512, null=True)
    request_id = CharField(max_length=128, null=True)
    details = TextField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    outbox_id = UUIDField(unique=True)

    class Meta:
        table_name = "audit_logs"


AuditLog.add_index(AuditLog.index(AuditLog.actor, AuditLog.created_at, name="audit_logs_actor_created_idx"))
AuditLog.add_index(AuditLog.index(AuditLog.created_at, name="audit_logs_created_idx"))
AuditLog.add_index(
    AuditLog.index(AuditLog.target_type, AuditLog.target_id, AuditLog.created_at, name="audit_logs_target_created_idx")
)
