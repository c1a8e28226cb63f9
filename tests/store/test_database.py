"""The connection pool under failure: dead connections are replaced, exhaustion is a clean 503."""

from __future__ import annotations

import threading
import time

import psycopg2
import pytest

from models import db

pytestmark = pytest.mark.postgres_only


def _terminate_app_connections(database_url: str) -> int:
    """Kill every server backend of the test database except our own, as a server restart would."""
    name = database_url.rsplit("/", 1)[1].split("?")[0]
    conn = psycopg2.connect(database_url.rsplit("/", 1)[0] + "/postgres", connect_timeout=5)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        killed = cur.fetchone()[0]
        # pg_terminate_backend only signals: wait until the backends are really gone, as after a restart.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            if cur.fetchone()[0] == 0:
                break
            time.sleep(0.05)
    conn.close()
    return killed


def test_requests_survive_killed_pooled_connections(client, backend):
    assert client.get("/health/ready").json()["checks"]["database"] == "ok"
    assert _terminate_app_connections(backend) >= 0
    for _ in range(3):
        response = client.get("/health/ready")
        assert response.status_code == 200
        assert response.json()["checks"]["database"] == "ok"


def test_statement_timeout_is_set(client):
    with db.connection_context():
        timeout = db.execute_sql("SHOW statement_timeout").fetchone()[0]
        zone = db.execute_sql("SHOW timezone").fetchone()[0]
    assert timeout == "5s"
    assert zone == "UTC"


def test_exhausted_pool_is_503_with_retry_after(settings, accounts):
    """With the only pooled connection held elsewhere, a request waits pool-timeout, then gets a clean 503."""
    from dataclasses import replace

    from app import create_app

    headers = accounts.headers_for(accounts.create())
    db.close()
    app = create_app(replace(settings, db_pool_size=1, db_pool_timeout=0.3))
    held, release = threading.Event(), threading.Event()

    def hold_connection():
        with db.connection_context():
            db.execute_sql("SELECT 1")
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_connection)
    holder.start()
    try:
        assert held.wait(5)
        with app.test_client() as client:
            response = client.get("/api/v1/users/me", headers=headers)
    finally:
        release.set()
        holder.join()
        create_app(settings)  # rebind the shared proxy to the normal pool for the other tests
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert int(response.headers["retry-after"]) >= 1
