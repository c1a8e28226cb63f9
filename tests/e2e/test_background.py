"""Background work that loses nothing, with every piece real: the API under uvicorn, Celery workers
and beat, a private redis-server, an SMTP server, and the session's database.

Faults are caused for real: Redis stopped during requests, a pool process and a whole worker
SIGKILLed in the middle of a task, the SMTP server down. Each time the effect (an email, an
audit row) must happen exactly once. Waits poll with a deadline; nothing sleeps blindly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from e2e.conftest import ROOT, RedisServer, Service, SmtpSink, child_pids, start_worker, wait_until
from models import AuditLog, OutboxMessage, User, db
from store.database import init_db

pytestmark = [pytest.mark.e2e, pytest.mark.redis_only]

PASSWORD = "Granite-Path-42"
LEASE_SECONDS = 10  # OUTBOX_LEASE_SECONDS: short, so the relay soon re-sends a row a dead worker held,
# yet well above the ~1 s a killed pool process takes to have its message redelivered
FAST = 1.0  # seconds: the most a request may take while Redis is down


@pytest.fixture(scope="module")
def e2e_env(e2e_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The shared e2e environment, with a fast relay, short backoff and lease, and the task gate."""
    return {
        **e2e_env,
        "OUTBOX_RELAY_SECONDS": "1",
        "TASK_RETRY_BACKOFF_SECONDS": "1",
        "OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
        "E2E_TASK_GATE": str(tmp_path_factory.mktemp("gate") / "gate"),
    }


class Workers:
    """The module's Celery worker (with the test hooks), which tests may kill and start again."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env, self.folder, self.started = env, folder, 0
        self.service: Service | None = None

    def ensure_running(self) -> Service:
        if self.service is None or self.service.process.poll() is not None:
            self.started += 1
            log = self.folder / f"worker-{self.started}.log"
            self.service = start_worker(self.env, log, "-I", "tests.e2e.worker_hooks")
        return self.service

    @property
    def log(self) -> Path:
        return self.service.log

    def kill_everything(self) -> None:
        """SIGKILL the main process first (so it cannot requeue anything), then its pool."""
        main = self.service.process
        pool = child_pids(main.pid)
        main.kill()
        main.wait(timeout=10)
        for pid in pool:
            os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        if self.service:
            self.service.stop()


@pytest.fixture(scope="module")
def workers(e2e_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    holder = Workers(e2e_env, tmp_path_factory.mktemp("workers"))
    holder.ensure_running()
    yield holder
    holder.stop()


@pytest.fixture
def worker(workers: Workers) -> Workers:
    workers.ensure_running()
    return workers


@pytest.fixture(scope="module")
def database(backend: str) -> str:
    """The test process reads the same database as the API and the worker."""
    init_db(backend)
    return backend


@pytest.fixture
def api(api_server: str, database: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{api_server}/api/v1", timeout=10) as client:
        yield client


@pytest.fixture
def gate(e2e_env: dict[str, str]) -> Iterator[Path]:
    """Closed while the test runs: audit tasks stop mid-run (see worker_hooks)."""
    path = Path(e2e_env["E2E_TASK_GATE"])
    for held in path.parent.glob(f"{path.name}.held.*"):
        held.unlink()
    path.touch()
    yield path
    path.unlink(missing_ok=True)


def held_tasks(gate: Path, row_id: object) -> list[int]:
    """The pool processes where the audit task of outbox row ``row_id`` waits at the gate."""
    held = gate.parent.glob(f"{gate.name}.held.*")
    return [int(path.name.rpartition(".")[2]) for path in held if path.read_text() == str(row_id)]


def new_email() -> str:
    return f"bg-{uuid.uuid4().hex[:12]}@example.com"


def register(api: httpx.Client, email: str, **headers: str) -> httpx.Response:
    body = {"email": email, "password": PASSWORD, "name": "Bea Ground"}
    return api.post("/auth/register", json=body, headers=headers)


def user_id(email: str) -> str:
    with db.connection_context():
        return str(User.get(User.email == email).id)


def outbox_rows(*conditions) -> list[OutboxMessage]:
    with db.connection_context():
        query = OutboxMessage.select()
        for condition in conditions:
            query = query.where(condition)
        return list(query)


def audit_rows(action: str, target_id: str) -> list[AuditLog]:
    with db.connection_context():
        return list(AuditLog.select().where((AuditLog.action == action) & (AuditLog.target_id == target_id)))


def registration_row(email: str) -> OutboxMessage:
    """The outbox row of the ``user.registered`` event of this account."""
    uid = user_id(email)
    rows = [row for row in outbox_rows(OutboxMessage.queue == "audit") if json.loads(row.payload)["targetId"] == uid]
    [row] = [row for row in rows if json.loads(row.payload)["action"] == "user.registered"]
    return row


def all_done(request_ids: list[str]) -> bool:
    rows = outbox_rows(OutboxMessage.request_id.in_(request_ids))
    return bool(rows) and all(row.state == "done" for row in rows)


def queue_status(api: httpx.Client, headers: dict[str, str]) -> dict:
    response = api.get("/admin/queues", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def timed(call) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = call()
    return response, time.perf_counter() - started


def test_a_request_leads_to_an_audit_row_and_an_email_logged_with_its_request_id(
    api: httpx.Client, smtp_sink: SmtpSink, worker: Workers
):
    email, request_id = new_email(), f"e2e-{uuid.uuid4().hex}"
    response = register(api, email, **{"X-Request-ID": request_id, "User-Agent": "e2e-agent/1.0"})
    assert response.status_code == 201, response.text

    [message] = smtp_sink.wait_for(email)
    uid = user_id(email)
    [event] = wait_until(lambda: audit_rows("user.registered", uid), what="the user.registered audit row")
    assert (str(event.actor_id), event.target_type) == (uid, "user")
    assert (event.request_id, event.user_agent, event.ip) == (request_id, "e2e-agent/1.0", "127.0.0.1")
    assert message["Message-ID"].startswith("<")

    def worker_lines_for_request() -> list[dict]:
        lines = [json.loads(line) for line in worker.log.read_text().splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("requestId") == request_id]

    lines = wait_until(worker_lines_for_request, timeout=5, what="worker log lines with the request id")
    assert {line["data"]["name"] for line in lines if "data" in line} >= {
        "tasks.audit.write_audit_log",
        "tasks.emails.send_email",
    }


def test_redis_down_the_api_answers_fast_and_everything_arrives_once_after(
    api: httpx.Client, smtp_sink: SmtpSink, private_redis: RedisServer, worker: Workers, celery_beat: Service
):
    private_redis.stop()
    try:
        emails, request_ids = [new_email() for _ in range(3)], []
        for email in emails:
            request_ids += [rid := uuid.uuid4().hex]
            response, took = timed(lambda: register(api, email, **{"X-Request-ID": rid}))  # noqa: B023
            assert response.status_code == 201, response.text
            assert took < FAST, f"register took {took:.2f}s with Redis down"
            request_ids += [rid := uuid.uuid4().hex]
            login = {"email": email, "password": PASSWORD}
            response, took = timed(lambda: api.post("/auth/login", json=login, headers={"X-Request-ID": rid}))  # noqa: B023
            assert response.status_code == 200, response.text
            assert took < FAST, f"login took {took:.2f}s with Redis down"
        ready = api.get(str(api.base_url.join("/health/ready")))
        assert (ready.status_code, ready.json()["status"]) == (200, "degraded")
        waiting = outbox_rows(OutboxMessage.request_id.in_(request_ids))
        assert len(waiting) >= 3 * 3  # per user: registered + login audit rows and a verification email
        assert {row.state for row in waiting} == {"pending"}
    finally:
        private_redis.start()

    wait_until(lambda: all_done(request_ids), timeout=25, what="the outbox to drain after Redis came back")
    for email in emails:
        assert len(smtp_sink.messages(email)) == 1
        uid = user_id(email)
        assert len(audit_rows("user.registered", uid)) == 1
        assert len(audit_rows("auth.login_succeeded", uid)) == 1
    ids = [message["Message-ID"] for email in emails for message in smtp_sink.messages(email)]
    assert len(set(ids)) == 3


def test_a_pool_process_killed_mid_task_runs_it_again_once(
    api: httpx.Client, worker: Workers, admin_headers: dict[str, str], gate: Path
):
    email = new_email()
    assert register(api, email).status_code == 201
    row_id = registration_row(email).id
    [first_pid] = wait_until(lambda: held_tasks(gate, row_id), what="the audit task at the gate")
    delivery = registration_row(email).claimed_by

    queues = queue_status(api, admin_headers)
    active = [task["name"] for w in queues["workers"] for task in w["active"]]
    assert "tasks.audit.write_audit_log" in active

    os.kill(first_pid, signal.SIGKILL)
    wait_until(
        lambda: set(held_tasks(gate, row_id)) - {first_pid}, what="the same task redelivered to another pool process"
    )
    gate.unlink()

    row = wait_until(lambda: registration_row(email).state == "done" and registration_row(email), what="done")
    # The broker redelivered the same message (same task id) and it took its row back at once,
    # rather than waiting for the lease to run out and the relay to send a new message.
    assert (row.claimed_by, row.attempts) == (delivery, 2)
    assert len(audit_rows("user.registered", user_id(email))) == 1


def test_a_whole_worker_killed_mid_task_is_rerun_by_the_relay_once(
    api: httpx.Client, workers: Workers, gate: Path, celery_beat: Service
):
    workers.ensure_running()
    email = new_email()
    assert register(api, email).status_code == 201
    wait_until(lambda: held_tasks(gate, registration_row(email).id), what="the audit task at the gate")
    first_delivery = registration_row(email).claimed_by

    workers.kill_everything()  # the message stays unacked in Redis until the visibility timeout (an hour)
    gate.unlink()
    workers.ensure_running()

    # The claim's lease runs out, the relay publishes the row again, the new worker takes it over.
    row = wait_until(
        lambda: registration_row(email).state == "done" and registration_row(email), timeout=LEASE_SECONDS + 15
    )
    assert row.claimed_by != first_delivery
    assert row.attempts == 2
    assert len(audit_rows("user.registered", user_id(email))) == 1


ROLLBACK_SCRIPT = """
import sys
from core.config import get_settings
from models.db import db
from store.database import init_db
from services import audit

init_db(get_settings().database_url)
marker = sys.argv[1]
try:
    with db.atomic():
        audit.record("auth.logout", details={"marker": marker + "-rolled-back"})
        raise RuntimeError("the use case failed after queuing its event")
except RuntimeError:
    pass
with db.atomic():
    audit.record("auth.logout", details={"marker": marker + "-committed"})
"""


def test_a_rolled_back_transaction_sends_nothing(
    e2e_env: dict[str, str], private_redis: RedisServer, worker: Workers, database: str
):
    marker = uuid.uuid4().hex
    env = {**os.environ, **e2e_env}
    subprocess.run([sys.executable, "-c", ROLLBACK_SCRIPT, marker], cwd=ROOT, env=env, check=True, timeout=30)

    def events(suffix: str) -> list[AuditLog]:
        with db.connection_context():
            return list(AuditLog.select().where(AuditLog.details.contains(f"{marker}-{suffix}")))

    wait_until(lambda: events("committed"), what="the committed event, queued after the rolled-back one")
    assert events("rolled-back") == []
    assert outbox_rows(OutboxMessage.payload.contains(f"{marker}-rolled-back")) == []
    with redis.Redis.from_url(private_redis.url) as broker:
        assert broker.llen("audit") == 0


def test_smtp_down_then_up_the_email_arrives_after_retries(api: httpx.Client, smtp_sink: SmtpSink, worker: Workers):
    email = new_email()
    smtp_sink.stop()
    try:
        assert register(api, email).status_code == 201

        def failed_once() -> OutboxMessage | None:
            rows = outbox_rows(OutboxMessage.queue == "emails", OutboxMessage.topic.endswith(email))
            return next((row for row in rows if row.last_error and row.state != "done"), None)

        row = wait_until(failed_once, what="a failed SMTP attempt waiting for its retry")
        assert row.state in ("dispatched", "processing")
    finally:
        smtp_sink.start()

    smtp_sink.wait_for(email, timeout=20)
    [done] = wait_until(
        lambda: [r for r in outbox_rows(OutboxMessage.id == row.id) if r.state == "done"], what="the row done"
    )
    assert done.attempts >= 2
    assert len(smtp_sink.messages(email)) == 1


@pytest.fixture(scope="module")
def admin_headers(api_server: str, database: str) -> dict[str, str]:
    """An administrator made with the documented command, logged in through the API."""
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    env = {**os.environ, "DATABASE_URL": database, "ADMIN_PASSWORD": PASSWORD, "LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "manage.py", "create-admin", email], cwd=ROOT, env=env, check=True, timeout=60)
    response = httpx.post(f"{api_server}/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['tokens']['accessToken']}"}


def test_queue_status_shows_the_workers_and_answers_without_them(
    api: httpx.Client, workers: Workers, admin_headers: dict[str, str]
):
    workers.ensure_running()
    live = queue_status(api, admin_headers)
    assert live["brokerReachable"] is True
    assert len(live["workers"]) == 1

    workers.stop()
    response, took = timed(lambda: api.get("/admin/queues", headers=admin_headers))
    assert response.status_code == 200, response.text
    assert took < 1.5
    assert response.json()["workers"] == []
    assert response.json()["brokerReachable"] is True
