"""Celery tasks on the ``emails`` queue: render in the worker, then send with the configured backend."""

from __future__ import annotations

import logging

from celery import shared_task

from core import mailer
from models import OutboxMessage
from services import emails
from tasks import OutboxTask, process
from tasks.templates import render

log = logging.getLogger("cairn.tasks.emails")


def _send(message: OutboxMessage) -> None:
    letter = emails.letter_for(message)
    if letter is None:
        log.info("email %s no longer needed; not sent", message.id)
        return
    key = str(message.id)
    mailer.send(
        mailer.build(render(letter.kind, letter.to, letter.name, letter.link, letter.occurred_at, letter.facts), key),
        key,
    )


@shared_task(base=OutboxTask, bind=True, name="tasks.emails.send_email")
def send_email(self, message_id: str) -> str:
    """Send the email an outbox row asks for; a redelivered or duplicate message sends nothing."""
    return process(self, message_id, _send)
