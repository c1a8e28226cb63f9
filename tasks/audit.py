"""Celery tasks on the ``audit`` queue."""

from __future__ import annotations

import json
from datetime import datetime

from celery_app import celery
from models import AuditLog, OutboxMessage
from tasks import OutboxTask, process


def _write(message: OutboxMessage) -> None:
    event = json.loads(message.payload)
    AuditLog.insert(
        id=message.id,
        outbox_id=message.id,
        action=event["action"],
        actor=event["actorId"],
        target_type=event["targetType"],
        target_id=event["targetId"],
        ip=event["ip"],
        user_agent=event["userAgent"],
        request_id=event["requestId"],
        details=json.dumps(event["details"]) if event["details"] else None,
        created_at=datetime.fromisoformat(event["occurredAt"]),
    ).on_conflict_ignore().execute()


@celery.task(base=OutboxTask, bind=True, name="tasks.audit.write_audit_log")
def write_audit_log(self, message_id: str) -> str:
    """Write one audit row; the unique outbox id makes a redelivery a no-op."""
    return process(self, message_id, _write, atomic=True)
