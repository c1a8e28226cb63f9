"""Celery tasks on the ``audit`` queue."""

from __future__ import annotations

from celery import shared_task

from models import OutboxMessage
from services import audit
from tasks import OutboxTask, process


def _write(message: OutboxMessage) -> None:
    audit.write(message)


@shared_task(base=OutboxTask, bind=True, name="tasks.audit.write_audit_log")
def write_audit_log(self, message_id: str) -> str:
    """Write one audit row; the unique outbox id makes a redelivery a no-op."""
    return process(self, message_id, _write, atomic=True)
