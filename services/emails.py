"""Emails the API asks for: queued through the outbox, rendered and sent by the worker."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from core.config import get_settings
from models import OutboxMessage
from services import one_time_tokens, outbox
from store import users

KINDS = ("verify_email", "reset_password", "password_changed")
THROTTLED_KINDS = ("verify_email", "reset_password")
THROTTLE = timedelta(minutes=1)


def queue_email(kind: str, user_id: str, to: str) -> bool:
    """Queue one email; False (nothing queued) if one of this kind went to ``to`` in the last minute.

    No secret goes into the outbox: the worker derives the link's one-time token
    from the outbox row id (see services.one_time_tokens) and stores only its hash.
    """
    assert kind in KINDS, kind
    topic = f"{kind}:{to}"
    if kind in THROTTLED_KINDS and outbox.recently_enqueued(topic, THROTTLE):
        return False
    payload = {"kind": kind, "userId": str(user_id), "to": to}
    outbox.enqueue("tasks.emails.send_email", "emails", payload, topic=topic)
    return True


# Kinds whose email carries a one-time link, and the front-end page it opens.
LINK_PAGES = {one_time_tokens.VERIFY_EMAIL: "/verify-email", one_time_tokens.RESET_PASSWORD: "/reset-password"}


@dataclass(frozen=True)
class Letter:
    """What an email says, before it is rendered: its kind, recipient, the user's name and its link."""

    kind: str
    to: str
    name: str
    link: str | None


def letter_for(message: OutboxMessage) -> Letter | None:
    """What the outbox row's email must say; None when it is no longer wanted (the account was
    deleted, or the address verified, since it was queued). Issues the row's one-time link."""
    payload = json.loads(message.payload)
    kind = payload["kind"]
    user = users.live_by_id(payload["userId"])
    if user is None or (kind == one_time_tokens.VERIFY_EMAIL and user.email_verified_at):
        return None
    return Letter(kind, payload["to"], user.name, _link(message, kind, user.id))


def _link(message: OutboxMessage, kind: str, user_id: str) -> str | None:
    if kind not in LINK_PAGES:
        return None
    token = one_time_tokens.issue_for(message, kind, user_id)
    return f"{get_settings().app_base_url}{LINK_PAGES[kind]}?token={token}"
