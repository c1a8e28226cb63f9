"""gunicorn settings for ``make api``: uvicorn workers with the ASGI lifespan on,
so a spec whose operationIds do not resolve stops start-up instead of serving 500s."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "core.server.LifespanUvicornWorker"
graceful_timeout = 30  # SIGTERM: in-flight requests get this long to finish
timeout = 60
keepalive = 5
accesslog = None  # the app writes its own JSON access line
errorlog = "-"


def child_exit(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    from core import metrics

    metrics.mark_process_dead(worker.pid)
