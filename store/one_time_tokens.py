"""One-time tokens (email verification, password reset): only their hashes are stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models import OneTimeToken


def add_once(user_id: Any, purpose: str, token_hash: str, created_at: datetime, expires_at: datetime) -> None:
    """Store a token's hash unless it is already there (a retried email derives the same token)."""
    OneTimeToken.insert(
        user=user_id, purpose=purpose, token_hash=token_hash, created_at=created_at, expires_at=expires_at
    ).on_conflict_ignore().execute()


def consume(token_hash: str, purpose: str, now: datetime) -> str | None:
    """Mark a live token used and return its user id; None if unknown, used, expired or another purpose.

    One conditional UPDATE whose row count says whether this caller won: single use, even under
    concurrent requests.
    """
    won = (
        OneTimeToken.update(used_at=now)
        .where(
            (OneTimeToken.token_hash == token_hash)
            & (OneTimeToken.purpose == purpose)
            & OneTimeToken.used_at.is_null()
            & (OneTimeToken.expires_at > now)
        )
        .execute()
    )
    if not won:
        return None
    row = OneTimeToken.select(OneTimeToken.user).where(OneTimeToken.token_hash == token_hash).get()
    return str(row.user_id)


def void_all(user_id: Any, purpose: str, now: datetime) -> int:
    """Use up every outstanding token of this purpose for the user."""
    return (
        OneTimeToken.update(used_at=now)
        .where((OneTimeToken.user == user_id) & (OneTimeToken.purpose == purpose) & OneTimeToken.used_at.is_null())
        .execute()
    )
