"""GET /metrics: request counts and latencies by route template, the pool, the queues, the outbox."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from web.metrics import UNMATCHED, route_templates

ROOT = Path(__file__).resolve().parents[2]
PROJECT_ROUTE = "/api/v1/projects/{projectId}"


def requests_seen(route: str, method: str, status: int) -> float:
    labels = {"route": route, "method": method, "status": str(status)}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0


def latency_count(route: str, method: str, status: int) -> float:
    labels = {"route": route, "method": method, "status": str(status)}
    return REGISTRY.get_sample_value("http_request_duration_seconds_count", labels) or 0


def scrape(client) -> dict[str, list]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_route_templates_map_bare_and_resolved_operation_ids():
    spec = {
        "paths": {
            "/things/{id}": {
                "x-openapi-router-controller": "handlers.things",
                "parameters": [],
                "get": {"operationId": "get_thing"},
                "patch": {"operationId": "update_thing", "x-openapi-router-controller": "handlers.other"},
            }
        }
    }
    routes = route_templates(spec)
    assert routes == {
        "get_thing": "/things/{id}",
        "handlers.things.get_thing": "/things/{id}",
        "update_thing": "/things/{id}",
        "handlers.other.update_thing": "/things/{id}",
    }


def test_requests_are_counted_by_route_template_method_and_final_status(client, accounts):
    headers = accounts.headers_for(accounts.create())
    created = client.post("/api/v1/projects", json={"name": "Metered"}, headers=headers).json()
    before = {
        "ok": requests_seen(PROJECT_ROUTE, "GET", 200),
        "missing": requests_seen(PROJECT_ROUTE, "GET", 404),
        "anonymous": requests_seen(PROJECT_ROUTE, "GET", 401),
        "invalid": requests_seen(PROJECT_ROUTE, "PATCH", 400),
        "unmatched": requests_seen(UNMATCHED, "GET", 404),
        "timed": latency_count(PROJECT_ROUTE, "GET", 200),
    }

    client.get(f"/api/v1/projects/{created['id']}", headers=headers)
    client.get(f"/api/v1/projects/{created['id']}", headers=headers)
    client.get("/api/v1/projects/00000000-0000-4000-8000-000000000000", headers=headers)
    client.get(f"/api/v1/projects/{created['id']}")
    client.patch(f"/api/v1/projects/{created['id']}", json={"bogus": 1}, headers=headers)
    client.get("/no/such/path/at/all")

    assert requests_seen(PROJECT_ROUTE, "GET", 200) == before["ok"] + 2
    assert requests_seen(PROJECT_ROUTE, "GET", 404) == before["missing"] + 1
    assert requests_seen(PROJECT_ROUTE, "GET", 401) == before["anonymous"] + 1
    assert requests_seen(PROJECT_ROUTE, "PATCH", 400) == before["invalid"] + 1
    assert requests_seen(UNMATCHED, "GET", 404) == before["unmatched"] + 1
    assert latency_count(PROJECT_ROUTE, "GET", 200) == before["timed"] + 2
    # No label value is taken from the raw path: ids and scanner paths never become series.
    assert not [
        sample
        for sample in REGISTRY.collect()
        for s in sample.samples
        if created["id"] in s.labels.get("route", "") or "/no/such" in s.labels.get("route", "")
    ]


def test_route_is_labelled_when_the_server_sends_no_extensions(client, app):
    """uvicorn's scope has no "extensions" key (the test client's has): the route must still be known."""
    import asyncio

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/health",
        "raw_path": b"/health",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    before = requests_seen("/health", "GET", 200)
    asyncio.run(app(scope, receive, send))

    assert sent[0]["status"] == 200
    assert requests_seen("/health", "GET", 200) == before + 1


def test_metrics_exposes_pool_queues_and_outbox_backlog(client, accounts, settings):
    from models import db

    headers = accounts.headers_for(accounts.create())
    db.close()  # the test's own connection goes back to the pool
    client.get("/api/v1/projects", headers=headers)

    families = scrape(client)

    assert {"http_requests", "http_request_duration_seconds", "cairn_broker_up"} <= families.keys()
    assert families["cairn_broker_up"][0].value == 1
    queues = {s.labels["queue"]: s.value for s in families["cairn_celery_queue_pending"]}
    assert set(queues) == {"emails", "audit", "maintenance"}
    assert all(value >= 0 for value in queues.values())
    states = {s.labels["state"] for s in families["cairn_outbox_messages"]}
    assert states == {"pending", "dispatched", "processing", "failed"}
    if settings.is_postgres:
        # Only the scrape's own connection is out; once it ends, none is. The capacity is the configured pool.
        assert families["cairn_db_pool_connections_in_use"][0].value == 1
        assert REGISTRY.get_sample_value("cairn_db_pool_connections_in_use") == 0
        assert families["cairn_db_pool_connections_max"][0].value == settings.db_pool_size


def test_metrics_count_the_outbox_backlog_by_state(client, accounts):
    from models import OutboxMessage

    OutboxMessage.create(task="tasks.audit.record", queue="audit", payload="{}", state="pending")
    OutboxMessage.create(task="tasks.audit.record", queue="audit", payload="{}", state="failed")
    OutboxMessage.create(task="tasks.audit.record", queue="audit", payload="{}", state="done")

    families = scrape(client)

    backlog = {s.labels["state"]: s.value for s in families["cairn_outbox_messages"]}
    assert backlog == {"pending": 1, "dispatched": 0, "processing": 0, "failed": 1}


def test_metrics_is_not_rate_limited_and_needs_no_token(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "ratelimit-limit" not in response.headers


def test_scrape_answers_quickly_when_the_broker_is_down(client, monkeypatch):
    from celery import current_app as celery

    # A port nobody listens on: the broker is "down" for this test only.
    monkeypatch.setitem(celery.conf, "broker_url", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setitem(
        celery.conf,
        "broker_transport_options",
        {"socket_timeout": 0.5, "socket_connect_timeout": 0.5, "max_retries": 0},
    )
    started = time.monotonic()
    families = scrape(client)
    assert time.monotonic() - started < 3
    assert families["cairn_broker_up"][0].value == 0
    assert "cairn_celery_queue_pending" not in families
    assert "cairn_outbox_messages" in families  # the database part still answers


MULTIPROCESS_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from web import metrics

    children = []
    for worker in range(2):
        pid = os.fork()
        if pid == 0:
            metrics.REQUESTS.labels("/health", "GET", "200").inc(3)
            metrics.LATENCY.labels("/health", "GET", "200").observe(0.01)
            metrics.POOL_IN_USE.set(2)
            os._exit(0)
        os.waitpid(pid, 0)
        children.append(pid)
    sys.stdout.write(metrics.worker_metrics().decode())
    sys.stdout.write("---\\n")
    metrics.mark_process_dead(children[0])
    sys.stdout.write(metrics.worker_metrics().decode())
    """
)


def _sample(text: str, name: str, labels: dict | None = None) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and (labels is None or sample.labels == labels):
                return sample.value
    return None


def gunicorn_config(folder: Path) -> dict:
    """gunicorn.conf.py's namespace, as gunicorn evaluates it (with the metrics folder given)."""
    namespace: dict = {"__file__": str(ROOT / "gunicorn.conf.py"), "__name__": "gunicorn_conf"}
    saved = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    try:
        exec(compile((ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)
        namespace["on_starting"](None)
    finally:
        if saved is None:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = saved
    return namespace


def test_gunicorn_start_empties_the_metrics_folder(tmp_path):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "counter_99999.db").write_bytes(b"a previous run's samples")

    config = gunicorn_config(folder)

    assert folder.is_dir()
    assert list(folder.iterdir()) == []
    assert callable(config["child_exit"])


def test_multiprocess_mode_merges_workers_and_forgets_dead_ones_live_gauges(tmp_path):
    folder = tmp_path / "prometheus"
    gunicorn_config(folder)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", MULTIPROCESS_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    both, after_death = done.stdout.split("---\n")
    labels = {"route": "/health", "method": "GET", "status": "200"}
    assert _sample(both, "http_requests_total", labels) == 6
    assert _sample(both, "http_request_duration_seconds_count", labels) == 2
    assert _sample(both, "cairn_db_pool_connections_in_use") == 4
    # A dead worker's requests still count; its connections no longer do.
    assert _sample(after_death, "http_requests_total", labels) == 6
    assert _sample(after_death, "cairn_db_pool_connections_in_use") == 2
