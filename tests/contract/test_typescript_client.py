"""Client authors' path in TypeScript: types generated from the spec, checked strictly, used for real.

``tests/typescript`` pins openapi-typescript, openapi-fetch and TypeScript (package.json and its
lock file; ``make install`` runs ``npm ci`` there when node is installed, and so does this module
when that has not happened for the current lock file). openapi-typescript must turn the spec into
``build/openapi.d.ts`` without a single warning; ``tsc`` must compile ``flow.ts`` under
``tests/typescript/tsconfig.json`` (strict, and more); then the compiled flow drives a real system
(uvicorn on a free port on its own migrated SQLite database, a Celery worker on a private
redis-server, the ``file`` email backend): register, verify the email with the token the flow
reads from the mail folder, login, projects and milestones, typed errors, refresh, logout.

Marked ``node_only`` (deselected without node; CI requires node) and ``redis_only`` (the worker
that delivers the verification email needs a broker of its own, as in tests/e2e).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import test_environ as app_environ  # (not collected as a test)
from e2e.conftest import ROOT, RedisServer, Service, free_port, http_ready, start_worker

from contract.support import manage

pytestmark = [pytest.mark.contract, pytest.mark.node_only, pytest.mark.redis_only]

PROJECT = ROOT / "tests" / "typescript"
NODE_BIN = PROJECT / "node_modules" / ".bin"
INSTALLED = PROJECT / "node_modules" / ".installed"  # the Makefile's stamp too
TYPES = PROJECT / "build" / "openapi.d.ts"
FLOW = PROJECT / "build" / "js" / "flow.js"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Colours off, whatever the CI runner asks for: the output is read line by line.
QUIET_ENV = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"}


def run(args: list[str | Path], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(arg) for arg in args], cwd=PROJECT, env=QUIET_ENV, capture_output=True, text=True, timeout=timeout
    )


def shown(result: subprocess.CompletedProcess) -> str:
    return ANSI.sub("", f"$ {' '.join(result.args)}\n{result.stdout}{result.stderr}")


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """``npm ci`` unless it already ran for this lock file (``make install`` touches the same stamp)."""
    lock = [PROJECT / "package.json", PROJECT / "package-lock.json"]
    if not INSTALLED.exists() or INSTALLED.stat().st_mtime < max(path.stat().st_mtime for path in lock):
        npm = shutil.which("npm")
        assert npm, "npm is not installed (it comes with node): tests/typescript needs it for `npm ci`"
        result = run([npm, "ci", "--no-audit", "--no-fund"], timeout=300)
        assert result.returncode == 0, shown(result)
        INSTALLED.touch()
    return PROJECT / "node_modules"


@pytest.fixture(scope="module")
def generation(node_modules: Path) -> subprocess.CompletedProcess:
    TYPES.unlink(missing_ok=True)
    spec = ROOT / "openapi" / "openapi.yaml"
    args = [NODE_BIN / "openapi-typescript", spec, "--redocly", PROJECT / "redocly.yaml", "--output", TYPES]
    return run(args, timeout=120)


@pytest.fixture(scope="module")
def compilation(generation: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert generation.returncode == 0, shown(generation)
    shutil.rmtree(FLOW.parent, ignore_errors=True)
    return run([NODE_BIN / "tsc", "--project", "tsconfig.json", "--strict"], timeout=180)


@dataclass(frozen=True)
class System:
    base_url: str
    mail_dir: Path
    logs: list[Path]

    def tail(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in self.logs if log.exists())


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """The API under uvicorn and a Celery worker on a private Redis, sharing a fresh SQLite database.

    Emails go request → outbox → Redis → worker → ``MAIL_DIR/<id>.eml`` (the ``file`` backend).
    """
    workdir = tmp_path_factory.mktemp("ts-client")
    broker = RedisServer(workdir / "redis").start()
    env = app_environ(f"sqlite:///{workdir / 'cairn.db'}", workdir, REDIS_URL=broker.url, CELERY_BROKER_URL=broker.url)
    manage("migrate", env=env)
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "--factory", "app:create_app", "--host", "127.0.0.1"]
    args += ["--port", str(port), "--lifespan", "on", "--log-level", "warning"]
    url = f"http://127.0.0.1:{port}"
    logs = [workdir / "server.log", workdir / "worker.log"]
    server = worker = None
    try:
        server = Service("uvicorn", args, env, logs[0]).start(http_ready(f"{url}/health/ready"))
        worker = start_worker(env, logs[1], concurrency=1)
        yield System(url, Path(env["MAIL_DIR"]), logs)
    finally:
        for service in (worker, server):
            if service is not None:
                service.stop()
        broker.stop()


def test_generation_is_clean(generation: subprocess.CompletedProcess):
    output = shown(generation)
    assert generation.returncode == 0, output
    # openapi-typescript prints its banner and one line per output; lint warnings (" ⚠  …") or
    # errors (" ✘  …") would be more lines.
    lines = [ANSI.sub("", line) for line in (generation.stdout + generation.stderr).splitlines() if line.strip()]
    unexpected = [line for line in lines if not line.startswith(("✨ openapi-typescript", "🚀 "))]
    assert not unexpected, output
    assert "warn" not in output.lower(), output
    assert "export interface paths" in TYPES.read_text()


def test_the_flow_type_checks_strictly(compilation: subprocess.CompletedProcess):
    assert compilation.returncode == 0, shown(compilation)
    assert (compilation.stdout + compilation.stderr).strip() == "", shown(compilation)
    assert FLOW.exists()


def test_a_whole_flow_through_openapi_fetch(compilation: subprocess.CompletedProcess, system: System):
    assert compilation.returncode == 0, shown(compilation)
    node = shutil.which("node")
    assert node
    env = {**QUIET_ENV, "CAIRN_BASE_URL": system.base_url, "CAIRN_MAIL_DIR": str(system.mail_dir)}
    result = subprocess.run([node, str(FLOW)], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{shown(result)}\n{system.tail()}"
    assert "the TypeScript client flow passed" in result.stdout, shown(result)
