"""Prometheus metrics: requests by route template, the database pool, Celery queues, the outbox.

Several gunicorn workers: ``PROMETHEUS_MULTIPROC_DIR`` (set by ``gunicorn.conf.py`` and emptied
by its ``on_starting`` hook before any worker starts) makes every process write its samples to files there, and a scrape
merges them, whichever worker answers it. Without it (tests, ``make run``) a plain in-process
registry is used. The variable must be set before ``prometheus_client`` is first imported.

What is recorded where:

- ``http_requests_total`` and ``http_request_duration_seconds`` (route, method, status) by
  ``MetricsMiddleware``, outside Connexion's exception middleware so 4xx/5xx are counted with
  their final status. ``route`` is the spec's path template (``/api/v1/projects/{projectId}``),
  or ``unmatched`` for paths the spec does not have, so a scanner cannot explode the label set.
- ``cairn_db_pool_connections_in_use`` / ``…_max``: each worker's pool, summed over live workers,
  refreshed as each request ends (after its connection went back to the pool).
- ``cairn_celery_queue_pending`` and ``cairn_outbox_messages``: read at scrape time by
  ``BacklogCollector`` in the worker that answers the scrape, with the broker's short socket
  time-outs, so a scrape never hangs when Redis is down (the queue gauges are then absent and
  ``cairn_broker_up`` is 0).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import QUEUES
from services import admin
from store.database import pool_usage
from store.outbox import BACKLOG_STATES
from web.requests import operation_of

log = logging.getLogger("cairn.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The classic text format (what generate_latest writes); Prometheus reads a bare text/plain as it,
# and Connexion only lets through the exact media type the spec declares.
CONTENT_TYPE = "text/plain"
UNMATCHED = "unmatched"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Around the seed's targets (50/100/200/300/500 ms), so their percentiles can be read off the buckets.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)

LABELS = ("route", "method", "status")
REQUESTS = Counter("http_requests", "HTTP requests by route template, method and status.", LABELS)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route template, method and status.",
    LABELS,
    buckets=LATENCY_BUCKETS,
)
POOL_IN_USE = Gauge(
    "cairn_db_pool_connections_in_use",
    "Database connections checked out of the pool, summed over live workers.",
    multiprocess_mode="livesum",
)
POOL_MAX = Gauge(
    "cairn_db_pool_connections_max",
    "Database pool capacity, summed over live workers.",
    multiprocess_mode="livesum",
)


# Multiprocess mode ----------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def mark_process_dead(pid: int) -> None:
    """gunicorn's child_exit hook: forget a dead worker's live gauges (its counters stay in the totals)."""
    if multiprocess_dir():
        _multiprocess.mark_process_dead(pid)


# Route templates ------------------------------------------------------------------------------


def route_templates(spec: Mapping) -> dict[str, str]:
    """operationId → path template, under both the bare and the resolved (``handlers.x.op``) name."""
    routes: dict[str, str] = {}
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method not in HTTP_METHODS or "operationId" not in operation:
                continue
            op_id = operation["operationId"]
            controller = operation.get("x-openapi-router-controller") or item.get("x-openapi-router-controller")
            routes[op_id] = path
            if controller:
                routes[f"{controller}.{op_id}"] = path
    return routes


# Request metrics ------------------------------------------------------------------------------


def record_pool_usage() -> None:
    """Set the pool gauges from this process's pool (PostgreSQL; SQLite has no pool)."""
    usage = pool_usage()
    if usage is not None:
        POOL_IN_USE.set(usage[0])
        POOL_MAX.set(usage[1])


class MetricsMiddleware:
    """Counts and times every HTTP request by route template, method and final status."""

    def __init__(self, app: ASGIApp, routes: Mapping[str, str]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if an exception escapes the inner stack
        # Connexion's router records the operation in scope["extensions"] of a shallow copy of this
        # scope: only an extensions dict that already exists here is shared with that copy (uvicorn
        # sends none; the test client does, which hid this).
        scope.setdefault("extensions", {})

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            labels = (self.routes.get(operation_of(scope) or "", UNMATCHED), scope["method"], str(status))
            REQUESTS.labels(*labels).inc()
            LATENCY.labels(*labels).observe(time.perf_counter() - started)
            record_pool_usage()


# Scrape-time collection -----------------------------------------------------------------------


class BacklogCollector:
    """Celery queue depths and the outbox backlog, read when scraped (never cached, never hanging)."""

    def collect(self) -> Iterator[Metric]:
        depths = admin.queue_depths()  # None when the broker is unreachable (short time-outs)
        broker_up = GaugeMetricFamily("cairn_broker_up", "1 if the Celery broker answered this scrape.")
        broker_up.add_metric([], 1 if depths is not None else 0)
        yield broker_up
        if depths is not None:
            queues = GaugeMetricFamily(
                "cairn_celery_queue_pending", "Messages waiting in each Celery queue.", labels=["queue"]
            )
            for name in QUEUES:
                queues.add_metric([name], depths.get(name, 0))
            yield queues
        yield from self._outbox()

    @staticmethod
    def _outbox() -> Iterator[Metric]:
        try:
            backlog = admin.outbox_backlog()
        except Exception as exc:  # the database being down must not fail the scrape
            log.warning("metrics: outbox backlog unavailable: %s", exc)
            return
        outbox = GaugeMetricFamily("cairn_outbox_messages", "Outbox rows not yet done, by state.", labels=["state"])
        for state in BACKLOG_STATES:
            outbox.add_metric([state], backlog[state])
        yield outbox
        age = GaugeMetricFamily(
            "cairn_outbox_oldest_pending_age_seconds", "Age of the oldest pending outbox row (0 when none)."
        )
        age.add_metric([], backlog["oldestPendingAge"] or 0)
        yield age


def worker_metrics() -> bytes:
    """The request and pool metrics of every live worker (merged from the files), or of this process."""
    if not multiprocess_dir():
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    _multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def backlog_metrics() -> bytes:
    registry = CollectorRegistry()
    registry.register(BacklogCollector())
    return generate_latest(registry)


def exposition() -> bytes:
    """Every metric in the Prometheus text format: all workers' samples plus the scrape-time backlog."""
    record_pool_usage()
    return worker_metrics() + backlog_metrics()
