"""Dependency checks for the readiness probe, each bounded by a short timeout."""

from __future__ import annotations

import logging

import redis

from core.config import BROKER_TIMEOUT_SECONDS, get_settings
from models.db import db

log = logging.getLogger("cairn.health")


def database_ok() -> bool:
    try:
        with db.connection_context():
            db.execute_sql("SELECT 1")
    except Exception as exc:  # any failure means "not ready"; the reason goes to the log
        log.warning("readiness: database check failed: %s", exc)
        return False
    return True


def redis_ok() -> bool:
    """Redis (or the embedded broker, which is a local folder and always there)."""
    settings = get_settings()
    url = settings.redis_url or (settings.broker_url if settings.uses_redis_broker else "")
    if not url:
        return True
    try:
        client = redis.Redis.from_url(
            url, socket_timeout=BROKER_TIMEOUT_SECONDS, socket_connect_timeout=BROKER_TIMEOUT_SECONDS
        )
        with client:
            return bool(client.ping())
    except redis.RedisError as exc:
        log.warning("readiness: redis check failed: %s", exc)
        return False


def readiness() -> dict:
    checks = {"database": "ok" if database_ok() else "down", "redis": "ok" if redis_ok() else "down"}
    if checks["database"] == "down":
        status = "down"
    elif checks["redis"] == "down":
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, "checks": checks}
