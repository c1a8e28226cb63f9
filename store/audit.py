"""The audit trail's table: rows written once per outbox event, listed newest first."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from peewee import Select

from models import AuditLog
from store.adapter import Slot
from store.paging import Listing, Page, SortKey, after, ordering, paginate

NEWEST_FIRST = {"createdAt": SortKey(AuditLog.created_at)}
NEWEST = "-createdAt"


def add_once(event_id: Any, event: dict[str, Any]) -> None:
    """Write the event's row; the unique outbox id makes a second write of it a no-op."""
    AuditLog.insert(
        id=event_id,
        outbox_id=event_id,
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


def page_of(
    *,
    page: int,
    limit: int,
    sort: str = NEWEST,
    user_id: Any = None,
    action: str | None = None,
    last: tuple | None = None,
) -> Page:
    """One page of audit rows, newest first.

    ``user_id``: rows about that user, as actor or as the target user (a failed login on their
    account has no actor). ``action``: one action.
    """

    def query() -> Select:
        rows = AuditLog.select()
        if user_id:
            about = (AuditLog.target_type == "user") & (AuditLog.target_id == Slot("target"))
            rows = rows.where((AuditLog.actor == Slot("user")) | about)
        if action:
            rows = rows.where(AuditLog.action == Slot("action"))
        return rows

    values = {"user": user_id, "target": str(user_id) if user_id else None, "action": action}
    listing = Listing(query, ("audit", bool(user_id), bool(action)), values)
    if last is not None:
        return after(listing, sort, NEWEST_FIRST, AuditLog.id, last, limit)
    return paginate(listing, ordering(sort, NEWEST_FIRST, AuditLog.id), page, limit)
