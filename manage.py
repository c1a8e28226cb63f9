"""Operational commands: ``python manage.py migrate|create-admin|seed|run``.

The Makefile wraps each of them (``make migrate``, ``make admin``, ``make seed``, ``make run``).
"""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import subprocess
import sys
import time

from core.config import get_settings
from core.errors import DomainError, InvalidInput
from core.logs import configure_logging
from models.db import db
from store.database import init_db


def _open_database(statement_timeout_ms: int | None = None) -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    timeout = settings.db_statement_timeout_ms if statement_timeout_ms is None else statement_timeout_ms
    init_db(settings.database_url, statement_timeout_ms=timeout)


def cmd_migrate(_args: argparse.Namespace) -> int:
    import migrations

    # Schema changes on a large table may take longer than a request is allowed to: no statement timeout.
    _open_database(statement_timeout_ms=0)
    applied = migrations.migrate(db)
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none (up to date)'}")
    return 0


def cmd_create_admin(args: argparse.Namespace) -> int:
    from services import accounts

    _open_database()
    password = args.password or os.environ.get("ADMIN_PASSWORD") or getpass.getpass("Password: ")
    try:
        with db.connection_context():
            user, created = accounts.create_or_promote_admin(args.email, password, args.name)
    except DomainError as exc:
        problem = f"{exc.field} {exc.problem}" if isinstance(exc, InvalidInput) else exc.message
        print(f"create-admin: {problem}", file=sys.stderr)
        return 2
    print(f"{'created' if created else 'promoted'} admin {user.email} ({user.id})")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from bench.seed import load_big_tenant, load_large
    from services.seed import load_demo

    _open_database()
    with db.connection_context():
        if not args.large:
            print(load_demo())
            return 0
        print(load_large(users=args.users, projects=args.projects, milestones=args.milestones))
        if args.big_tenant:
            print(load_big_tenant(args.big_tenant))
    return 0


QUEUE_LIST = "emails,audit,maintenance"
BEAT_SCHEDULE = "var/celerybeat-schedule"


def _python(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args])


def cmd_run(_args: argparse.Namespace) -> int:
    """Development: the API, a worker and beat on the embedded default, stopped together."""
    cmd_migrate(_args)
    settings = get_settings()
    level = settings.log_level
    children = [
        _python(
            "-m", "celery", "-A", "celery_app", "worker", "-Q", QUEUE_LIST, "--loglevel", level, "--concurrency", "2"
        ),
        _python("-m", "celery", "-A", "celery_app", "beat", "--loglevel", level, "--schedule", BEAT_SCHEDULE),
        _python("-m", "uvicorn", "--factory", "app:create_app", "--port", str(settings.port), "--lifespan", "on"),
    ]
    print(
        f"Cairn is starting: API http://127.0.0.1:{settings.port}/health, "
        f"docs http://127.0.0.1:{settings.port}/api/v1/ui/, "
        f"emails in {settings.mail_dir}/ (EMAIL_BACKEND={settings.email_backend}). Ctrl-C stops everything.",
        flush=True,
    )
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
    return max((child.returncode or 0) for child in children)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="manage.py", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending migrations").set_defaults(func=cmd_migrate)
    admin = sub.add_parser("create-admin", help="create an admin user, or promote an existing one")
    admin.add_argument("email")
    admin.add_argument("--name", default="Administrator")
    admin.add_argument("--password", help="default: $ADMIN_PASSWORD, else asked for")
    admin.set_defaults(func=cmd_create_admin)
    seed = sub.add_parser("seed", help="load demo data (idempotent); --large for the benchmark set")
    seed.add_argument("--large", action="store_true")
    seed.add_argument("--users", type=int, default=1000)
    seed.add_argument("--projects", type=int, default=100_000)
    seed.add_argument("--milestones", type=int, default=300_000)
    seed.add_argument("--big-tenant", type=int, default=0, help="with --large: one more user owning N projects")
    seed.set_defaults(func=cmd_seed)
    sub.add_parser("run", help="API + worker + beat on the embedded default").set_defaults(func=cmd_run)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
