"""Users and everything that proves who they are: sessions, refresh tokens,
one-time tokens (email verification, password reset, email change) and login throttles."""

from __future__ import annotations

from peewee import CharField, ForeignKeyField, IntegerField, UUIDField, fn

from models.db import BaseModel, TimestampedModel, UTCDateTimeField, utcnow

ROLES = ("user", "admin")


class User(TimestampedModel):
    email = CharField(max_length=254, index=True)
    password_hash = CharField(max_length=100)
    name = CharField(max_length=100)
    role = CharField(max_length=16, default="user")
    email_verified_at = UTCDateTimeField(null=True)
    deleted_at = UTCDateTimeField(null=True, index=True)
    disabled_at = UTCDateTimeField(null=True)  # set by an admin: no login, no session (see services/user_admin.py)
    last_login_at = UTCDateTimeField(null=True)  # the last login with a password (registering is not one)

    class Meta:
        table_name = "users"


# Emails are normalised (lower-cased) in Python before saving: SQLite's LOWER() folds ASCII only.
User.add_index(
    User.index(fn.LOWER(User.email), unique=True, where=User.deleted_at.is_null(), name="users_live_email_key")
)


class Session(BaseModel):
    """One login: a refresh-token family. Revoking it ends its access tokens too."""

    user = ForeignKeyField(User, backref="sessions", on_delete="CASCADE", index=True)
    created_at = UTCDateTimeField(default=utcnow)
    expires_at = UTCDateTimeField(index=True)
    last_used_at = UTCDateTimeField(default=utcnow)
    revoked_at = UTCDateTimeField(null=True)
    ip = CharField(max_length=64, null=True)
    user_agent = CharField(max_length=512, null=True)

    class Meta:
        table_name = "sessions"


class RefreshToken(BaseModel):
    """Every refresh token ever issued, as a hash; a used one presented again is a theft signal."""

    session = ForeignKeyField(Session, backref="refresh_tokens", on_delete="CASCADE", index=True)
    token_hash = CharField(max_length=64, unique=True)
    created_at = UTCDateTimeField(default=utcnow)
    used_at = UTCDateTimeField(null=True)
    parent_id = UUIDField(null=True, unique=True)  # the token this one replaced (None: a session's first)

    class Meta:
        table_name = "refresh_tokens"


class OneTimeToken(BaseModel):
    """Email verification, password reset and email-change tokens, stored only as hashes.

    An email-change token also says what it is about: ``email`` (the new address for a
    confirmation, the old one for a revert) and ``session_id`` (the session that asked).
    """

    user = ForeignKeyField(User, backref="one_time_tokens", on_delete="CASCADE", index=True)
    purpose = CharField(max_length=32)
    token_hash = CharField(max_length=64, unique=True)
    created_at = UTCDateTimeField(default=utcnow)
    expires_at = UTCDateTimeField(index=True)
    used_at = UTCDateTimeField(null=True)
    email = CharField(max_length=254, null=True, index=True)
    session_id = UUIDField(null=True)

    class Meta:
        table_name = "one_time_tokens"


class LoginThrottle(BaseModel):
    """Failed logins per normalised email (registered or not), and the lock they caused."""

    email = CharField(max_length=254, unique=True)
    failures = IntegerField(default=0)
    window_started_at = UTCDateTimeField(default=utcnow)
    locked_until = UTCDateTimeField(null=True)

    class Meta:
        table_name = "login_throttles"
