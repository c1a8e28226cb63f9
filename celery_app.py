"""The Celery application: built from the same settings as the API.

Queues: ``emails``, ``audit``, ``maintenance``. JSON only. ``acks_late`` with
redelivery when a worker dies, prefetch of one, and a visibility timeout above
the longest task. The embedded default (no ``REDIS_URL``) uses Celery's
filesystem transport under ``var/broker``: development only (a SIGKILLed
worker can lose a message there; the outbox relay re-publishes it).

Beat runs the outbox relay every ``OUTBOX_RELAY_SECONDS`` and the purge daily.
Workers and beat log JSON lines like the API's; a task's lines carry the
``requestId`` of the request that queued it (the ``request_id`` message
header). Each task gets a database connection, opened before it runs and
closed after.

Run a worker with ``make worker``, the scheduler with ``make beat``, Flower with
``make flower``; ``make run`` starts a worker and beat next to the API. Importing this module
builds nothing: ``create_celery(settings)`` does (the API's ``create_app`` calls it), and the
``celery`` CLI's ``-A celery_app`` gets one built from the environment on first use.
"""

from __future__ import annotations

from contextvars import Token

from celery import Celery, signals
from celery.schedules import crontab
from kombu import Queue

import tasks.audit
import tasks.emails
import tasks.maintenance
from core.config import BROKER_TIMEOUT_SECONDS, QUEUES, VAR_DIR, Settings, get_settings, load_settings
from core.logs import configure_logging, request_id_var
from models.db import db
from store.database import init_db

VISIBILITY_TIMEOUT_SECONDS = 3600
OUTBOX_TASKS = (tasks.emails.send_email.name, tasks.audit.write_audit_log.name)
_cli_app: Celery | None = None


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


def create_celery(settings: Settings) -> Celery:
    """A Celery app for these settings, made the current and default one (the outbox sends through it)."""
    transport_options = _redis_options() if settings.uses_redis_broker else _filesystem_options()
    app = Celery("cairn")
    app.conf.update(
        broker_url=settings.broker_url,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker waits for the broker forever instead of exiting
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
        worker_redirect_stdouts=False,  # the console email backend prints to stdout on purpose
        worker_send_task_events=True,
        task_send_sent_event=False,
        timezone="UTC",
        enable_utc=True,
        beat_schedule=_beat_schedule(settings),
        task_annotations={name: {"retry_backoff": settings.task_retry_backoff} for name in OUTBOX_TASKS},
    )
    app.set_default()  # every thread's current app (request threads included), not just this one's
    app.set_current()
    return app


def __getattr__(name: str) -> Celery:
    """``celery -A celery_app`` reads ``celery_app.celery``: built from the environment on first use."""
    global _cli_app
    if name != "celery":
        raise AttributeError(name)
    if _cli_app is None:
        _cli_app = create_celery(load_settings())
    return _cli_app


def _beat_schedule(settings: Settings) -> dict:
    """The relay often (a stale run is dropped, not queued up while workers are away), the purge daily."""
    relay_every = settings.outbox_relay_seconds
    return {
        "relay-outbox": {
            "task": "tasks.maintenance.relay_outbox",
            "schedule": relay_every,
            "options": {"expires": relay_every * 2},
        },
        "purge-expired": {
            "task": "tasks.maintenance.purge_expired",
            "schedule": crontab(hour=3, minute=17),
            "options": {"expires": 6 * 3600},
        },
    }


def _open_database(**_kwargs) -> None:
    settings = get_settings()
    init_db(
        settings.database_url,
        pool_size=settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout,
        statement_timeout_ms=settings.db_statement_timeout_ms,
    )


# A worker binds the database from the settings before it forks its pool (beat needs none).
signals.worker_init.connect(_open_database, weak=False)


@signals.worker_process_init.connect
def _after_fork(**_kwargs) -> None:
    """A pool child must not share the parent's connections."""
    db.dispose()


@signals.setup_logging.connect
def _json_logs(loglevel: int | str | None = None, **_kwargs) -> None:
    """Connected, this replaces Celery's own logging set-up (worker and beat) with the API's JSON lines."""
    configure_logging(loglevel or get_settings().log_level)


@signals.before_task_publish.connect
def _stamp_request_id(headers: dict | None = None, **_kwargs) -> None:
    """A task queued while handling a request (or a task) carries its request id (retries included)."""
    if headers is not None and not headers.get("request_id"):
        headers["request_id"] = request_id_var.get()


# Per running task: the request-id token to reset, and whether this task opened the connection.
_running: dict[str, tuple[Token, bool]] = {}


@signals.task_prerun.connect
def _before_task(task_id: str, task, **_kwargs) -> None:
    opened = db.is_closed()  # an eager task inside a request uses the request's connection
    if opened:
        db.connect()
    _running[task_id] = (request_id_var.set(task.request.get("request_id")), opened)


@signals.task_postrun.connect
def _after_task(task_id: str, **_kwargs) -> None:
    token, opened = _running.pop(task_id, (None, False))
    if token is not None:
        request_id_var.reset(token)
    if opened and not db.is_closed():
        db.close()
