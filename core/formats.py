"""How values are written in JSON bodies: RFC 3339 UTC times (``Z``) and ISO dates."""

from __future__ import annotations

from datetime import UTC, date, datetime


def rfc3339(value: datetime | None) -> str | None:
    """``2026-11-25T10:02:00.123456Z`` (UTC, microseconds when present); None stays None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_date(value: date | None) -> str | None:
    """``2026-12-15``; None stays None."""
    return value.isoformat() if value is not None else None
