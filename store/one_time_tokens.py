"""One-time tokens (email verification, password reset, email change): only their hashes are stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models import OneTimeToken, User


def add_once(
    user_id: Any,
    purpose: str,
    token_hash: str,
    created_at: datetime,
    expires_at: datetime,
    email: str | None = None,
    session_id: Any = None,
) -> None:
    """Store a token's hash unless it is already there (a retried email derives the same token)."""
    OneTimeToken.insert(
        user=user_id,
        purpose=purpose,
        token_hash=token_hash,
        created_at=created_at,
        expires_at=expires_at,
        email=email,
        session_id=session_id,
    ).on_conflict_ignore().execute()


def _live(now: datetime) -> Any:
    return OneTimeToken.used_at.is_null() & (OneTimeToken.expires_at > now)


def consume(token_hash: str, purpose: str, now: datetime) -> OneTimeToken | None:
    """Mark a live token used and return its row; None if unknown, used, expired or another purpose.

    One conditional UPDATE whose row count says whether this caller won: single use, even under
    concurrent requests.
    """
    won = (
        OneTimeToken.update(used_at=now)
        .where((OneTimeToken.token_hash == token_hash) & (OneTimeToken.purpose == purpose) & _live(now))
        .execute()
    )
    if not won:
        return None
    return OneTimeToken.get(OneTimeToken.token_hash == token_hash)


def is_live(token_hash: str, now: datetime) -> bool:
    """Whether the token is stored, unused and unexpired."""
    return OneTimeToken.select().where((OneTimeToken.token_hash == token_hash) & _live(now)).exists()


def holds_email(email: str, purpose: str, now: datetime, other_than_user: Any = None) -> bool:
    """Whether a live user (other than ``other_than_user``) has a live token of ``purpose`` about ``email``."""
    query = (
        OneTimeToken.select()
        .join(User)
        .where(
            (OneTimeToken.email == email) & (OneTimeToken.purpose == purpose) & _live(now) & User.deleted_at.is_null()
        )
    )
    if other_than_user is not None:
        query = query.where(OneTimeToken.user != other_than_user)
    return query.exists()


def void_all(user_id: Any, purpose: str, now: datetime, created_after: datetime | None = None) -> int:
    """Use up every outstanding token of this purpose for the user (only those made after
    ``created_after`` when given)."""
    outstanding = (OneTimeToken.user == user_id) & (OneTimeToken.purpose == purpose) & OneTimeToken.used_at.is_null()
    if created_after is not None:
        outstanding &= OneTimeToken.created_at > created_after
    return OneTimeToken.update(used_at=now).where(outstanding).execute()
