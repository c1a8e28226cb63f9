"""Shared fixtures.

Backends: every test that uses the database runs on SQLite and, when
``TEST_DATABASE_URL`` is set, again on PostgreSQL (the ``backend`` fixture is
parametrized per session). With ``CI`` set, a missing ``TEST_DATABASE_URL`` or
``REDIS_URL`` stops the run: CI must never quietly test less.

Isolation: the schema is migrated once per backend; every test starts from
empty tables.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from core.config import Settings, load_settings

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
BACKENDS = ["sqlite", *(["postgres"] if TEST_DATABASE_URL else [])]


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI") and not (TEST_DATABASE_URL and REDIS_URL):
        raise pytest.UsageError("CI is set: TEST_DATABASE_URL and REDIS_URL are required (no silent SQLite-only run)")
    if os.environ.get("CI") and not shutil.which("node"):
        raise pytest.UsageError(
            "CI is set: node is required (the spec's patterns as ECMAScript, the TypeScript client flow)"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``postgres_only`` / ``redis_only`` tests exist only where that server is configured.

    Without TEST_DATABASE_URL / REDIS_URL (a newcomer's laptop) they are deselected, not
    skipped; CI always sets both (and refuses to run without them), so there they always run.
    ``redis_only`` tests also run wherever ``redis-server`` is installed (they start a private one);
    ``node_only`` tests wherever ``node`` is (CI refuses to run without it).
    """
    absent = {"postgres_only"} if not TEST_DATABASE_URL else set()
    absent |= {"redis_only"} if not (REDIS_URL or shutil.which("redis-server")) else set()
    absent |= {"node_only"} if not shutil.which("node") else set()
    dropped = [item for item in items if absent & set(item.keywords)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("postgres_only") and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", ["postgres"], scope="session", indirect=True)
        return
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS, scope="session", indirect=True)


def recreate_postgres_database(url: str) -> None:
    """Drop and create the database named in ``url`` (it must be a throwaway test database)."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    assert "test" in name, f"refusing to recreate {name!r}: a test database name must contain 'test'"
    admin_url = urlunsplit((parts.scheme.replace("+pool", ""), parts.netloc, "/postgres", "", ""))
    conn = psycopg2.connect(admin_url, connect_timeout=5)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def test_environ(database_url: str, tmp: Path, **overrides: str) -> dict[str, str]:
    """The environment a test app runs with (also handed to spawned processes)."""
    env = {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "BCRYPT_ROUNDS": "4",
        "JWT_SECRET": "test-secret-that-is-at-least-32-bytes-long",
        "RATE_LIMIT_DEFAULT": "100000/minute",
        "RATE_LIMIT_AUTH": "100000/minute",
        "EMAIL_BACKEND": "file",
        "MAIL_DIR": str(tmp / "mail"),
        "LOG_LEVEL": "WARNING",
        "APP_BASE_URL": "http://app.test",
    }
    if REDIS_URL:
        env["REDIS_URL"] = REDIS_URL
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The database URL for this backend, freshly created and migrated."""
    import migrations
    from models.db import db
    from store.database import init_db

    if request.param == "postgres":
        recreate_postgres_database(TEST_DATABASE_URL)
        url = TEST_DATABASE_URL
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'cairn.db'}"
    init_db(url)
    migrations.migrate(db)
    db.close()
    return url


@pytest.fixture(scope="session")
def settings(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(test_environ(backend, tmp_path_factory.mktemp("app")))


@pytest.fixture(scope="session")
def app(settings: Settings):
    from celery import current_app as celery

    from app import create_app

    application = create_app(settings)
    # In-process tests run tasks inline; tests/e2e run real workers on a real broker.
    celery.conf.task_always_eager = True
    application.celery = celery._get_current_object()  # tests that build other apps must not leave theirs current
    return application


def _no_body_without_content(response) -> None:
    """The in-process client does not enforce what a real server does: a 204 carries no body."""
    if response.status_code == 204:
        response.read()
        assert response.content == b"", f"204 with a body: {response.content!r}"


@pytest.fixture(scope="session")
def _session_client(app) -> Iterator:
    with app.test_client() as client:
        client.event_hooks["response"].append(_no_body_without_content)
        yield client


@pytest.fixture
def client(_session_client, clean_db, app):
    app.celery.set_default()
    app.celery.set_current()
    _session_client.cookies.clear()
    return _session_client


@pytest.fixture
def clean_db(settings: Settings) -> Iterator[None]:
    """Empty every table before the test (the schema stays)."""
    from core.config import use_settings
    from models import ALL_MODELS, db
    from store.database import init_db

    use_settings(settings)
    init_db(settings.database_url)
    tables = [model._meta.table_name for model in reversed(ALL_MODELS)]
    with db.connection_context():
        if "postgres" in type(db.obj).__name__.lower():
            db.execute_sql(f"TRUNCATE {', '.join(tables)} CASCADE")
        else:
            for table in tables:
                db.execute_sql(f"DELETE FROM {table}")
    yield
    if not db.is_closed():
        db.close()


class Accounts:
    """Make users and log them in directly through the models (no HTTP, no bcrypt cost).

    ``tests/`` for a feature other than auth use this to get an authenticated caller:
    ``headers = accounts.headers_for(accounts.create())``.
    """

    counter = 0

    def create(
        self, email: str | None = None, name: str = "Test User", role: str = "user", password: str = "Passw0rd!"
    ):
        from core.passwords import hash_password
        from models import User

        Accounts.counter += 1
        email = email or f"user{Accounts.counter}@example.com"
        return User.create(email=email.lower(), name=name, role=role, password_hash=hash_password(password))

    def login(self, user) -> tuple[str, str]:
        """A live session for ``user``: returns (access token, session id)."""
        from datetime import UTC, datetime

        from core.tokens import REFRESH_TOKEN_TTL, issue_access_token
        from models import Session

        session = Session.create(user=user, expires_at=datetime.now(UTC) + REFRESH_TOKEN_TTL)
        return issue_access_token(str(user.id), str(session.id)), str(session.id)

    def headers_for(self, user) -> dict[str, str]:
        token, _ = self.login(user)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def accounts(clean_db) -> Accounts:
    return Accounts()


@pytest.fixture
def mailbox(settings: Settings):
    """The emails written by the ``file`` backend during this test (tasks run inline in-process)."""
    import shutil

    from mailtools import Mailbox

    shutil.rmtree(settings.mail_dir, ignore_errors=True)
    return Mailbox(settings.mail_dir, settings.app_base_url)


class Clock:
    """The auth services' time, moved by the test instead of sleeping."""

    def __init__(self) -> None:
        from datetime import UTC, datetime

        self.now = datetime.now(UTC)

    def __call__(self):
        return self.now

    def advance(self, **delta) -> None:
        from datetime import timedelta

        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Controls ``services.auth.clock`` (lockouts, token and session expiry) for one test."""
    from services import auth

    fake = Clock()
    monkeypatch.setattr(auth, "clock", fake)
    return fake


@pytest.fixture
def owner(accounts) -> tuple:
    """An authenticated caller for HTTP tests: (user, Authorization headers)."""
    user = accounts.create()
    return user, accounts.headers_for(user)


@pytest.fixture
def reconfigure(app, settings) -> Iterator:
    """``reconfigure(**changes)``: the session's app serves, and this process runs, with changed
    settings for the rest of the test; both are put back after it."""
    from dataclasses import replace

    from core.config import use_settings

    def change(**changes: object) -> Settings:
        changed = use_settings(replace(settings, **changes))
        app.serving.settings = changed
        return changed

    yield change
    use_settings(settings)
    app.serving.settings = settings
