"""Emails the API asks for: queued through the outbox, rendered and sent by the worker."""

from __future__ import annotations

from datetime import timedelta

from services import outbox

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
