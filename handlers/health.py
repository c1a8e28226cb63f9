"""Liveness, readiness and metrics."""

from __future__ import annotations

from core.config import VERSION
from services import health
from web import metrics


def get_health() -> dict:
    """The process is up."""
    return {"status": "ok", "version": VERSION}


def get_liveness() -> dict:
    """The process is alive (no dependency is checked)."""
    return {"status": "ok", "version": VERSION}


def get_readiness() -> tuple[dict, int]:
    """503 when the database is down; 200 ``degraded`` when only the broker is."""
    report = health.readiness()
    return report, 503 if report["status"] == "down" else 200


def get_metrics() -> tuple[bytes, int, dict[str, str]]:
    """Every worker's request metrics, the database pool, the Celery queues and the outbox backlog."""
    return metrics.exposition(), 200, {"Content-Type": metrics.CONTENT_TYPE}
