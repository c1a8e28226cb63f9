"""Real processes for end-to-end tests, started and stopped by the tests themselves.

- ``RedisServer``: a private ``redis-server`` on a free port (no persistence), the broker.
  Fault tests may ``stop()``/``start()`` or ``kill()`` it; never touch the machine's shared Redis.
- ``SmtpSink``: an aiosmtpd SMTP server in a thread that keeps every message it accepts.
- ``Service``: a subprocess (Celery worker, API under uvicorn) with its output in a log file,
  shown when a test fails to start it.

Module-scoped fixtures wire them together on the test session's database (SQLite file or
PostgreSQL, per the ``backend`` parameter): ``private_redis``, ``smtp_sink``, ``e2e_env`` (the
environment every process gets), ``celery_worker`` and ``api_server`` (its base URL).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import redis
from aiosmtpd.controller import Controller
from conftest import test_environ
from mailtools import parse

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float = 15.0, what: str = "", interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy (returned), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


class RedisServer:
    """A throwaway redis-server: ``url`` is ``redis://127.0.0.1:<port>/0``."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: the e2e tests need it to run a private broker")
        self.binary, self.workdir, self.port = binary, workdir, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [*args, "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(self.ping, timeout=10, what=f"redis-server on port {self.port}")
        return self

    def ping(self) -> bool:
        try:
            with redis.Redis.from_url(self.url, socket_timeout=0.2, socket_connect_timeout=0.2) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """SIGTERM and wait (a clean shutdown)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL (a crash)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class _Keep:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.sink.received.append(parse(envelope.content))
        return "250 Message accepted for delivery"


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free port; ``received`` holds the parsed messages."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[EmailMessage] = []
        self.controller: Controller | None = None

    def start(self) -> SmtpSink:
        """Listen (again, after ``stop()``: a Controller cannot be restarted, so each start makes one)."""
        self.controller = Controller(_Keep(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def messages(self, to: str) -> list[EmailMessage]:
        return [message for message in list(self.received) if message["To"] == to]

    def wait_for(self, to: str, count: int = 1, timeout: float = 20.0) -> list[EmailMessage]:
        """Wait until ``count`` messages to ``to`` have arrived; returns them, oldest first."""
        wait_until(lambda: len(self.messages(to)) >= count, timeout=timeout, what=f"{count} email(s) to {to}")
        return self.messages(to)

    def wait_for_subject(self, to: str, subject: str, timeout: float = 20.0) -> EmailMessage:
        """The first message to ``to`` whose subject contains ``subject``: the workers send
        concurrently, so two emails queued a moment apart can arrive in either order."""

        def found() -> EmailMessage | None:
            return next((m for m in self.messages(to) if subject in m["Subject"]), None)

        return wait_until(found, timeout=timeout, what=f"an email to {to} about {subject!r}")


class Service:
    """A subprocess with its own environment; stdout and stderr go to ``log``."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.args, self.env, self.log = name, args, env, log
        self.process: subprocess.Popen | None = None

    def start(self, ready: Callable[[], bool]) -> Service:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.args, cwd=ROOT, env={**os.environ, **self.env}, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"{self.name} did not start; its log:\n{self.log.read_text()[-5000:]}")
            time.sleep(0.1)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def worker_ready(log: Path) -> Callable[[], bool]:
    return lambda: log.exists() and b"ready." in log.read_bytes()


def start_worker(env: dict[str, str], log: Path, *extra_args: str, concurrency: int = 2) -> Service:
    """A real Celery worker (prefork) on every queue; ``extra_args`` e.g. ``-I module`` to load test hooks."""
    args = [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "-Q", "emails,audit,maintenance"]
    args += ["--concurrency", str(concurrency), "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
    return Service("celery worker", [*args, *extra_args], env, log).start(worker_ready(log))


def child_pids(pid: int) -> list[int]:
    """The direct children of a process (a worker's pool processes), from /proc."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in children.read_text().split()] if children.exists() else []


def http_ready(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            return httpx.get(url, timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    return ready


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def e2e_env(
    backend: str, private_redis: RedisServer, smtp_sink: SmtpSink, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """What every process of the e2e system runs with: this session's database, the private broker, SMTP."""
    return test_environ(
        backend,
        tmp_path_factory.mktemp("e2e"),
        REDIS_URL=private_redis.url,
        CELERY_BROKER_URL=private_redis.url,
        EMAIL_BACKEND="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_sink.port),
        LOG_LEVEL="INFO",
    )


@pytest.fixture(scope="module")
def celery_worker(e2e_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A real Celery worker (prefork, two children) on every queue."""
    service = start_worker(e2e_env, tmp_path_factory.mktemp("worker") / "worker.log")
    yield service
    service.stop()


@pytest.fixture(scope="module")
def celery_beat(e2e_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """Celery beat, which queues the outbox relay every OUTBOX_RELAY_SECONDS (and the daily purge)."""
    folder = tmp_path_factory.mktemp("beat")
    log = folder / "beat.log"
    args = [sys.executable, "-m", "celery", "-A", "celery_app", "beat", "--loglevel", "INFO"]
    args += ["--schedule", str(folder / "schedule")]
    service = Service("celery beat", args, e2e_env, log).start(lambda: log.exists() and b"Starting" in log.read_bytes())
    yield service
    service.stop()


@pytest.fixture(scope="module")
def api_server(e2e_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API under uvicorn (lifespan on, as in production); yields its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("api") / "api.log"
    args = [sys.executable, "-m", "uvicorn", "--factory", "app:create_app", "--host", "127.0.0.1"]
    args += ["--port", str(port), "--lifespan", "on", "--no-access-log"]
    base = f"http://127.0.0.1:{port}"
    service = Service("API", args, e2e_env, log).start(http_ready(f"{base}/health"))
    yield base
    service.stop()
