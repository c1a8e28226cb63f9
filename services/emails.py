"""Emails the API asks for: queued through the outbox, rendered and sent by the worker."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.config import get_settings
from models import OutboxMessage
from services import one_time_tokens, outbox
from store import users

KINDS = (
    "verify_email",
    "reset_password",
    "password_changed",
    "confirm_email_change",  # to the new address: the link that makes the change
    "revert_email_change",  # to the old address, at the request: what is asked, and the link that undoes it
    "email_changed",  # to the new address, once confirmed: the security notice
    "email_change_reverted",  # to the old address, once reverted: a reset-password link
)
THROTTLED_KINDS = ("verify_email", "reset_password")
THROTTLE = timedelta(minutes=1)

# Kinds whose email carries a one-time link: the token's purpose and the front-end page it opens.
LINKS = {
    "verify_email": (one_time_tokens.VERIFY_EMAIL, "/verify-email"),
    "reset_password": (one_time_tokens.RESET_PASSWORD, "/reset-password"),
    "confirm_email_change": (one_time_tokens.CONFIRM_EMAIL_CHANGE, "/confirm-email-change"),
    "revert_email_change": (one_time_tokens.REVERT_EMAIL_CHANGE, "/revert-email-change"),
    "email_change_reverted": (one_time_tokens.RESET_PASSWORD, "/reset-password"),
}
# Kinds not worth sending once their link is dead (a later request replaced the change, or it was reverted).
ONLY_WHILE_LINK_LIVES = ("confirm_email_change",)
# Kinds not sent once the account has left the address they were queued for (its links died with the change).
ONLY_TO_THE_CURRENT_ADDRESS = ("verify_email", "reset_password")


def queue_email(kind: str, user_id: str, to: str, facts: dict[str, str] | None = None) -> bool:
    """Queue one email; False (nothing queued) if one of this kind went to ``to`` in the last minute.

    ``facts`` are the plain values its words name (addresses, which sessions ended). No secret
    goes into the outbox: the worker derives the link's one-time token from the outbox row id
    (see services.one_time_tokens) and stores only its hash.
    """
    assert kind in KINDS, kind
    if kind in THROTTLED_KINDS and outbox.recently_enqueued(f"{kind}:{to}", THROTTLE):
        return False
    _enqueue(kind, user_id, to, facts)
    return True


def queue_link_email(
    kind: str, user_id: str, to: str, facts: dict[str, str], *, about: str, session_id: Any = None
) -> None:
    """Queue an email whose one-time token is stored now, in the caller's transaction, with what it
    is ``about`` (an address) and the ``session_id`` that asked: an email-change link."""
    assert kind in LINKS, kind
    message = _enqueue(kind, user_id, to, facts)
    one_time_tokens.issue_for(message, LINKS[kind][0], user_id, email=about, session_id=session_id)


def _enqueue(kind: str, user_id: str, to: str, facts: dict[str, str] | None) -> OutboxMessage:
    payload: dict[str, Any] = {"kind": kind, "userId": str(user_id), "to": to}
    if facts:
        payload["facts"] = facts
    return outbox.enqueue("tasks.emails.send_email", "emails", payload, topic=f"{kind}:{to}")


@dataclass(frozen=True)
class Letter:
    """What an email says, before it is rendered: its kind, recipient, the user's name, its link,
    when what it reports happened (the row's time), and the facts its words name."""

    kind: str
    to: str
    name: str
    link: str | None
    occurred_at: datetime | None = None
    facts: dict[str, str] = field(default_factory=dict)


def letter_for(message: OutboxMessage) -> Letter | None:
    """What the outbox row's email must say; None when it is no longer wanted (the account was
    deleted, the address verified or changed, or the email change replaced or reverted, since it
    was queued). Issues the row's one-time link."""
    payload = json.loads(message.payload)
    kind = payload["kind"]
    user = users.live_by_id(payload["userId"])
    if user is None or (kind == one_time_tokens.VERIFY_EMAIL and user.email_verified_at):
        return None
    if kind in ONLY_TO_THE_CURRENT_ADDRESS and payload["to"] != user.email:
        return None
    if kind in ONLY_WHILE_LINK_LIVES and not one_time_tokens.is_live(message):
        return None
    link = _link(message, kind, user.id)
    return Letter(kind, payload["to"], user.name, link, message.created_at, payload.get("facts") or {})


def _link(message: OutboxMessage, kind: str, user_id: str) -> str | None:
    if kind not in LINKS:
        return None
    purpose, page = LINKS[kind]
    token = one_time_tokens.issue_for(message, purpose, user_id)
    return f"{get_settings().app_base_url}{page}?token={token}"
