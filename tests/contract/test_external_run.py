"""The external run: the real server, started as ``make api`` starts it, fuzzed from outside.

Once per test run: gunicorn with the uvicorn worker (``gunicorn.conf.py``, two workers,
production settings) on a free port, on PostgreSQL when ``TEST_DATABASE_URL`` is set (a
database of its own next to it, migrated with ``manage.py migrate``), else on SQLite. A
user registers through the API and an admin is made with ``manage.py create-admin``;
then ``schemathesis run`` runs every check and every phase, seeded and bounded, with
``hooks.py`` for credentials, and must find nothing. The cases run per phase are
printed (from the run's NDJSON events); the JUnit report lands next to them.

Bounds: ``--max-examples`` (per operation in fuzzing, scenarios in the stateful phase)
and a timeout on the whole run. ``--max-time`` is not used: in schemathesis 4.32 it is a
budget that fuzzing and stateful *repeat until spent*, and the coverage phase only gets a
share of it, so it neither caps the run nor keeps it whole.

The broker is ``memory://`` (nothing consumes the emails and audit events queued here,
and they must not pile up in the suite's Redis); rate limits are raised through the
environment (the security tests prove them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from conftest import TEST_DATABASE_URL, recreate_postgres_database
from conftest import test_environ as app_environ  # (not collected as a test)
from e2e.conftest import ROOT, Service, free_port, http_ready

from contract import hooks
from contract.support import manage, report

pytestmark = pytest.mark.contract

SEED = 20261125
MAX_EXAMPLES = 5
RUN_TIMEOUT_SECONDS = 600  # a hang fails the test instead of eating CI's budget
PHASES = ["examples", "coverage", "fuzzing", "stateful"]
# The user registered through the API is the spec's example account, so the examples phase logs in for real.
USER = {"email": hooks.EXAMPLE_EMAIL, "password": hooks.EXAMPLE_PASSWORD, "name": "Ann Lee"}
ADMIN = {"email": "contract-admin@example.com", "password": "Contract-Admin-42"}
# 423 is the documented lockout; Hypothesis reuses small emails, so a valid address gets locked.
CONFIG = """
[cache]
enabled = false

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "423", "429", "5xx"]
"""


def own_database(url: str) -> str:
    """``…/cairn_test`` → ``…/cairn_test_external``: the server's data stays out of the suite's database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_external"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("external")


@pytest.fixture(scope="module")
def database_url(workdir: Path) -> str:
    """A fresh, migrated database (``make migrate``'s command)."""
    if TEST_DATABASE_URL:
        url = own_database(TEST_DATABASE_URL)
        recreate_postgres_database(url)
    else:
        url = f"sqlite:///{workdir / 'cairn.db'}"
    manage("migrate", env=app_environ(url, workdir))
    return url


def server_environ(database_url: str, workdir: Path, port: int) -> dict[str, str]:
    return app_environ(
        database_url,
        workdir,
        APP_ENV="production",
        BCRYPT_ROUNDS="10",
        PORT=str(port),
        WEB_CONCURRENCY="2",
        CELERY_BROKER_URL="memory://",
        PROMETHEUS_MULTIPROC_DIR=str(workdir / "prometheus"),
    )


@pytest.fixture(scope="module")
def server(database_url: str, workdir: Path):
    """``make api``: gunicorn with the uvicorn worker, per gunicorn.conf.py. Yields the base URL."""
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:create_app()"]
    service = Service("gunicorn", args, server_environ(database_url, workdir, port), workdir / "server.log")
    base_url = f"http://127.0.0.1:{port}"
    service.start(http_ready(f"{base_url}/health/ready"))
    yield base_url
    service.stop()


def access_token(base_url: str, path: str, body: dict) -> str:
    response = httpx.post(f"{base_url}/api/v1/auth/{path}", json=body, timeout=10)
    assert response.status_code in (200, 201), response.text
    return response.json()["tokens"]["accessToken"]


def cases_per_phase(ndjson: Path) -> Counter:
    counts: Counter = Counter()
    for line in ndjson.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if finished:
            counts[finished["phase"]] += len(finished["recorder"].get("cases", {}))
    return counts


def test_schemathesis_cli_against_the_real_server(server, database_url, workdir, request):
    env = app_environ(database_url, workdir)  # what hooks.py needs: the database and the JWT key
    user_token = access_token(server, "register", USER)
    manage("create-admin", ADMIN["email"], env={**env, "ADMIN_PASSWORD": ADMIN["password"]})
    admin_token = access_token(server, "login", ADMIN)
    config = workdir / "schemathesis.toml"
    config.write_text(CONFIG)
    reports = workdir / "reports"
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run"),
        f"{server}/api/v1/openapi.json",
        *("--checks", "all", "--phases", ",".join(PHASES), "--seed", str(SEED)),
        # One worker: with two, Hypothesis's parsing of lambda sources (ast.parse, not thread-safe on
        # 3.11) sometimes kills the run ("AST constructor recursion depth mismatch"; seen on CI).
        *("--max-examples", str(MAX_EXAMPLES), "--workers", "1"),
        *("--suppress-health-check", "too_slow,filter_too_much"),
        *("--report", "junit,ndjson", "--report-dir", str(reports)),
    ]
    hooks_env = {
        **env,
        "PYTHONPATH": str(ROOT / "tests"),
        "SCHEMATHESIS_HOOKS": "contract.hooks",
        "CONTRACT_USER_TOKEN": user_token,
        "CONTRACT_ADMIN_TOKEN": admin_token,
    }

    result = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, **hooks_env},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )

    ndjson = next(reports.glob("*.ndjson"), None)  # none when the run could not even start
    counts = cases_per_phase(ndjson) if ndjson else Counter()
    backend = "postgres" if TEST_DATABASE_URL else "sqlite"
    summary = ", ".join(f"{phase} {counts[phase]}" for phase in PHASES)
    junit = next(reports.glob("junit*.xml"), None)
    report(request.config, f"schemathesis run (external, gunicorn on {backend}): {summary} cases; JUnit: {junit}")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert all(counts[phase] for phase in PHASES), f"a phase ran nothing: {dict(counts)}"
