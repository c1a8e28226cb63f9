"""Celery tasks on the ``emails`` queue: render in the worker, then send with the configured backend."""

from __future__ import annotations

import json
import logging

from celery_app import celery
from core import mailer
from core.config import get_settings
from models import OutboxMessage, User
from services import one_time_tokens
from tasks import OutboxTask, process
from tasks.templates import render

log = logging.getLogger("cairn.tasks.emails")

# Kinds whose email carries a one-time link, and the front-end page it opens.
LINK_PAGES = {one_time_tokens.VERIFY_EMAIL: "/verify-email", one_time_tokens.RESET_PASSWORD: "/reset-password"}


def _link(message: OutboxMessage, kind: str, user: User) -> str | None:
    if kind not in LINK_PAGES:
        return None
    token = one_time_tokens.issue_for(message, kind, user.id)
    return f"{get_settings().app_base_url}{LINK_PAGES[kind]}?token={token}"


def _still_wanted(kind: str, user: User | None) -> bool:
    """An account deleted, or an address verified, since the email was queued needs no email."""
    return user is not None and not (kind == one_time_tokens.VERIFY_EMAIL and user.email_verified_at)


def _send(message: OutboxMessage) -> None:
    payload = json.loads(message.payload)
    kind = payload["kind"]
    user = User.get_or_none((User.id == payload["userId"]) & User.deleted_at.is_null())
    if not _still_wanted(kind, user):
        log.info("email %s (%s) no longer needed; not sent", message.id, kind)
        return
    email = render(kind, payload["to"], user.name, _link(message, kind, user))
    key = str(message.id)
    mailer.send(mailer.build(email, key), key)


@celery.task(base=OutboxTask, bind=True, name="tasks.emails.send_email")
def send_email(self, message_id: str) -> str:
    """Send the email an outbox row asks for; a redelivered or duplicate message sends nothing."""
    return process(self, message_id, _send)
