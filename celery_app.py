"""The Celery application: built from the same settings as the API.

Queues: ``emails``, ``audit``, ``maintenance``. JSON only. ``acks_late`` with
redelivery when a worker dies, prefetch of one, and a visibility timeout above
the longest task. The embedded default (no ``REDIS_URL``) uses Celery's
filesystem transport under ``var/broker``: development only (a SIGKILLed
worker can lose a message there; the outbox relay re-publishes it).

Run a worker with ``make worker``, the scheduler with ``make beat``.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from core.config import VAR_DIR, Settings, get_settings

QUEUES = ("emails", "audit", "maintenance")
BROKER_TIMEOUT_SECONDS = 1.0
VISIBILITY_TIMEOUT_SECONDS = 3600

celery = Celery("cairn", include=["tasks.emails", "tasks.audit", "tasks.maintenance"])


def _filesystem_options() -> dict:
    folders = {name: VAR_DIR / "broker" / name for name in ("queue", "control", "processed")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folders["queue"]),
        "data_folder_out": str(folders["queue"]),
        "control_folder": str(folders["control"]),
        "processed_folder": str(folders["processed"]),
        "store_processed": False,
        "polling_interval": 0.2,
    }


def _redis_options() -> dict:
    return {
        "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
        "socket_timeout": BROKER_TIMEOUT_SECONDS,
        "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
        "max_retries": 0,
    }


def configure_celery(settings: Settings) -> Celery:
    """(Re)configure the shared Celery app for these settings."""
    transport_options = _redis_options() if settings.uses_redis_broker else _filesystem_options()
    celery.conf.update(
        broker_url=settings.broker_url,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=BROKER_TIMEOUT_SECONDS,
        task_default_queue="maintenance",
        task_queues=[Queue(name) for name in QUEUES],
        task_routes={
            "tasks.emails.*": {"queue": "emails"},
            "tasks.audit.*": {"queue": "audit"},
            "tasks.maintenance.*": {"queue": "maintenance"},
        },
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=True,
        task_send_sent_event=False,
        timezone="UTC",
        enable_utc=True,
    )
    return celery


configure_celery(get_settings())
