"""gunicorn settings for ``make api``: uvicorn workers with the ASGI lifespan on,
so a spec whose operationIds do not resolve stops start-up instead of serving 500s."""

import os
import shutil
from pathlib import Path

# Each worker writes its Prometheus samples here (web.metrics); emptied when the master starts.
# Set before anything imports prometheus_client, so the forked workers pick multiprocess mode.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(Path(__file__).resolve().parent / "var" / "prometheus"))

from core.config import load_settings  # after the line above, whatever core.config comes to import

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = load_settings().web_concurrency  # WEB_CONCURRENCY, default cores + 1; a bad setting stops here
worker_class = "web.server.LifespanUvicornWorker"
graceful_timeout = 30  # SIGTERM: in-flight requests get this long to finish
timeout = 60
keepalive = 5
accesslog = None  # the app writes its own JSON access line
errorlog = "-"


def on_starting(server):  # noqa: ARG001 - gunicorn's hook signature
    """Empty the metrics folder: a previous run's samples would be merged in. Plain file work on
    purpose: importing web.metrics here would open the master's sample files before the folder exists."""
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def child_exit(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    from web import metrics

    metrics.mark_process_dead(worker.pid)
