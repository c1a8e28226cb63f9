"""Peewee models. ``ALL_MODELS`` is in dependency order (tables a migration creates)."""

from models.db import db
from models.idempotency import IdempotencyKey
from models.outbox import AuditLog, OutboxMessage
from models.projects import Milestone, Project
from models.users import LoginThrottle, OneTimeToken, RefreshToken, Session, User

ALL_MODELS = [
    User,
    Session,
    RefreshToken,
    OneTimeToken,
    LoginThrottle,
    Project,
    Milestone,
    OutboxMessage,
    AuditLog,
    IdempotencyKey,
]

__all__ = [
    "ALL_MODELS",
    "AuditLog",
    "IdempotencyKey",
    "LoginThrottle",
    "Milestone",
    "OneTimeToken",
    "OutboxMessage",
    "Project",
    "RefreshToken",
    "Session",
    "User",
    "db",
]
