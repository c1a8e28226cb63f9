"""QA's run: the real server, started as ``make api`` starts it, fuzzed from outside with ``make contract``.

Once per test run: gunicorn with the uvicorn worker (``gunicorn.conf.py``, two workers,
production settings) on a free port, on PostgreSQL when ``TEST_DATABASE_URL`` is set (a
database of its own next to it, migrated with ``manage.py migrate``), else on SQLite; an
admin made with ``manage.py create-admin`` (``make admin``). Then ``make contract URL=…``
runs exactly what QA runs — ``schemathesis run`` with the repository's ``schemathesis.toml``
and its HTTP-only hooks, every check and every phase — seeded and bounded, and must end
with no failure, no error and no "Authentication failed" warning. The cases run per phase
are printed (from the run's NDJSON events); the JUnit report lands next to them.

Bounds: ``--max-examples`` (per operation in fuzzing, scenarios in the stateful phase)
and a timeout on the whole run. ``--max-time`` is not used: in schemathesis 4.32 it is a
budget that fuzzing and stateful *repeat until spent*, and the coverage phase only gets a
share of it, so it neither caps the run nor keeps it whole.

The broker is ``memory://`` (nothing consumes the emails and audit events queued here,
and they must not pile up in the suite's Redis); rate limits are raised through the
environment, as the README tells QA (the security tests prove the limits).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from conftest import TEST_DATABASE_URL, recreate_postgres_database
from conftest import test_environ as app_environ  # (not collected as a test)
from e2e.conftest import ROOT, Service, free_port, http_ready

from contract.support import manage, report

pytestmark = pytest.mark.contract

SEED = 20261204
MAX_EXAMPLES = 5
RUN_TIMEOUT_SECONDS = 900  # a hang fails the test instead of eating CI's budget
PHASES = ["examples", "coverage", "fuzzing", "stateful"]
ADMIN = {"email": "qa-admin@example.com", "password": "Qa-Admin-Pass-42"}


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


def cases_per_phase(ndjson: Path) -> Counter:
    counts: Counter = Counter()
    for line in ndjson.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if finished:
            counts[finished["phase"]] += len(finished["recorder"].get("cases", {}))
    return counts


def test_make_contract_against_the_real_server(server, database_url, workdir, request):
    admin_environ = {**app_environ(database_url, workdir), "ADMIN_PASSWORD": ADMIN["password"]}
    manage("create-admin", ADMIN["email"], env=admin_environ)
    reports = workdir / "reports"
    arguments = [
        *("--seed", str(SEED), "--max-examples", str(MAX_EXAMPLES)),
        *("--suppress-health-check", "too_slow,filter_too_much"),
        *("--report", "junit,ndjson", "--report-dir", str(reports)),
    ]
    command = ["make", "--no-print-directory", "contract", f"URL={server}", f"CONTRACT_ARGS={' '.join(arguments)}"]
    qa_environ = {"CAIRN_QA_ADMIN_EMAIL": ADMIN["email"], "CAIRN_QA_ADMIN_PASSWORD": ADMIN["password"]}
    # Nothing of the app's configuration reaches the run: QA knows the URL and the admin, nothing else.
    environ = {name: value for name, value in os.environ.items() if not name.endswith(("DATABASE_URL", "JWT_SECRET"))}

    result = subprocess.run(
        command,
        cwd=ROOT,
        env={**environ, **qa_environ},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )

    ndjson = next(reports.glob("*.ndjson"), None)  # none when the run could not even start
    counts = cases_per_phase(ndjson) if ndjson else Counter()
    backend = "postgres" if TEST_DATABASE_URL else "sqlite"
    summary = ", ".join(f"{phase} {counts[phase]}" for phase in PHASES)
    junit = next(reports.glob("junit*.xml"), None)
    report(request.config, f"make contract (gunicorn on {backend}, seed {SEED}): {summary} cases; JUnit: {junit}")
    output = result.stdout[-20000:] + result.stderr[-5000:]
    assert result.returncode == 0, output
    assert "Authentication failed" not in result.stdout, output
    assert all(counts[phase] for phase in PHASES), f"a phase ran nothing: {dict(counts)}"
