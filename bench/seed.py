"""The benchmark's data set (``make seed-large``, ``manage.py seed --large``; ``make bench`` loads it).

``bench-user-0001@cairn.local`` … ``bench-user-NNNN@cairn.local``, all with the password
``Bench-Passw0rd1`` (hashed once, the hash reused: bcrypt would otherwise take minutes). Skewed
like real tenants: the first three users own 30 %, 20 % and 10 % of the projects (30,000, 20,000
and 10,000 of the default 100,000), the others a few dozen each. About 2 % of the projects are
soft-deleted (with their milestones). Rows go in with ``COPY`` on PostgreSQL and ``executemany``
on SQLite, in one transaction; then the statistics and PostgreSQL's visibility map are refreshed
so the planner sees the new data. Loading it again does nothing.
"""

from __future__ import annotations

import csv
import io
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from peewee import Field, PostgresqlDatabase

from core.passwords import hash_password
from models import Milestone, Project, User, db

BENCH_PASSWORD = "Bench-Passw0rd1"
BENCH_EMAIL = "bench-user-{:04d}@cairn.local"
# Shares of all projects owned by bench-user-0001, -0002, -0003 (the "heavy" tenants).
HEAVY_SHARES = (0.30, 0.20, 0.10)
DELETED_SHARE = 0.02
SEED = 20261125
BIG_TENANT_EMAIL = "bench-big@cairn.local"
BIG_TENANT_CHUNK = 100_000

ADJECTIVES = ("granite", "alpine", "misty", "frozen", "quiet", "windy", "sunlit", "hidden", "northern", "rugged")
NOUNS = ("ridge", "summit", "glacier", "valley", "couloir", "traverse", "hut", "trail", "pass", "basin", "moraine")
VERBS = ("map", "survey", "repair", "mark", "rebuild", "scout", "clear", "document", "inspect", "supply")


def bench_email(number: int) -> str:
    """The email of bench user ``number`` (1-based); 1, 2 and 3 are the heavy tenants."""
    return BENCH_EMAIL.format(number)


def projects_per_user(users: int, total: int, rng: random.Random) -> list[int]:
    """How many projects each bench user owns: the heavy shares first, the rest spread unevenly."""
    heavy = [round(total * share) for share in HEAVY_SHARES[: max(users - 1, 0)]]
    rest_users, rest = users - len(heavy), total - sum(heavy)
    weights = [rng.uniform(0.5, 1.5) for _ in range(rest_users)]
    counts = [int(rest * w / sum(weights)) for w in weights]
    for i in range(rest - sum(counts)):  # hand out what rounding down left over
        counts[i % rest_users] += 1
    return heavy + counts


def load_large(users: int = 1000, projects: int = 100_000, milestones: int = 300_000) -> str:
    """Bulk-load the benchmark set (see the module docstring); does nothing if it is already there."""
    if User.select().where(User.email == bench_email(1)).exists():
        return f"benchmark data already present ({bench_email(1)} exists); nothing loaded"
    started = time.monotonic()
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    password_hash = hash_password(BENCH_PASSWORD)
    user_rows = [_user_row(n, password_hash, now) for n in range(1, users + 1)]
    project_rows = [
        _project_row(rng, user_row[0], now)
        for user_row, count in zip(user_rows, projects_per_user(users, projects, rng), strict=True)
        for _ in range(count)
    ]
    milestone_rows = [_milestone_row(rng, rng.choice(project_rows), now) for _ in range(milestones)] if projects else []
    with db.atomic():
        _lift_statement_timeout("SET LOCAL")
        _bulk_insert(User, USER_FIELDS, user_rows)
        _bulk_insert(Project, PROJECT_FIELDS, project_rows)
        _bulk_insert(Milestone, MILESTONE_FIELDS, milestone_rows)
    _refresh_statistics()
    heavy = ", ".join(bench_email(n) for n in range(1, min(len(HEAVY_SHARES), users - 1) + 1))
    return (
        f"loaded {len(user_rows)} users, {len(project_rows)} projects, {len(milestone_rows)} milestones"
        f" in {time.monotonic() - started:.1f} s; password {BENCH_PASSWORD}; heavy users: {heavy or 'none'}"
    )


def load_big_tenant(projects: int) -> str:
    """One more user, ``BIG_TENANT_EMAIL``, owning ``projects`` projects (the million-project tenant
    the cursor benchmarks walk); does nothing if that user exists. Streamed: COPY in chunks."""
    if projects <= 0:
        return "no big tenant asked for"
    if User.select().where(User.email == BIG_TENANT_EMAIL).exists():
        return f"big tenant already present ({BIG_TENANT_EMAIL}); nothing loaded"
    started = time.monotonic()
    rng = random.Random(SEED + 1)
    now = datetime.now(UTC)
    user = (uuid.uuid4(), BIG_TENANT_EMAIL, "Bench Big Tenant", hash_password(BENCH_PASSWORD), "user", now, now, now)
    with db.atomic():
        _lift_statement_timeout("SET LOCAL")
        _bulk_insert(User, USER_FIELDS, [user])
        for start in range(0, projects, BIG_TENANT_CHUNK):
            rows = [_project_row(rng, user[0], now) for _ in range(min(BIG_TENANT_CHUNK, projects - start))]
            _bulk_insert(Project, PROJECT_FIELDS, rows)
    _refresh_statistics()
    return f"loaded {BIG_TENANT_EMAIL} with {projects} projects in {time.monotonic() - started:.1f} s"


USER_FIELDS = [
    User.id,
    User.email,
    User.name,
    User.password_hash,
    User.role,
    User.email_verified_at,
    User.created_at,
    User.updated_at,
]
PROJECT_FIELDS = [
    Project.id,
    Project.user,
    Project.name,
    Project.description,
    Project.status,
    Project.created_at,
    Project.updated_at,
    Project.deleted_at,
]
MILESTONE_FIELDS = [
    Milestone.id,
    Milestone.project,
    Milestone.title,
    Milestone.description,
    Milestone.due_date,
    Milestone.status,
    Milestone.created_at,
    Milestone.updated_at,
    Milestone.deleted_at,
]


def _user_row(number: int, password_hash: str, now: datetime) -> tuple:
    return (uuid.uuid4(), bench_email(number), f"Bench User {number:04d}", password_hash, "user", now, now, now)


def _project_row(rng: random.Random, user_id: uuid.UUID, now: datetime) -> tuple:
    created = now - timedelta(seconds=rng.randrange(2 * 365 * 86400))
    updated = created + timedelta(seconds=rng.randrange(int((now - created).total_seconds()) + 1))
    words = f"{rng.choice(ADJECTIVES).capitalize()} {rng.choice(NOUNS)}"
    name = f"{words} {rng.choice(VERBS)} {rng.randrange(100_000)}"
    place = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
    description = (
        None if rng.random() < 0.2 else f"{rng.choice(VERBS).capitalize()} the {rng.choice(NOUNS)} near the {place}."
    )
    status = "active" if rng.random() < 0.75 else "inactive"
    deleted = updated if rng.random() < DELETED_SHARE else None
    return (uuid.uuid4(), user_id, name, description, status, created, updated, deleted)


def _milestone_row(rng: random.Random, project: tuple, now: datetime) -> tuple:
    project_created, project_deleted = project[5], project[7]
    created = project_created + timedelta(seconds=rng.randrange(int((now - project_created).total_seconds()) + 1))
    due = None if rng.random() < 0.25 else date.fromordinal(created.date().toordinal() + rng.randrange(-30, 365))
    title = f"{rng.choice(VERBS).capitalize()} the {rng.choice(NOUNS)}"
    status = "done" if rng.random() < 0.4 else "open"
    return (uuid.uuid4(), project[0], title, None, due, status, created, created, project_deleted)


def _is_postgres() -> bool:
    return isinstance(db.obj, PostgresqlDatabase)


def _bulk_insert(model: type, fields: Sequence[Field], rows: list[tuple]) -> None:
    table, columns = model._meta.table_name, [field.column_name for field in fields]
    if _is_postgres():
        _copy(table, columns, rows)
        return
    # executemany on values the fields have already converted: several times faster than insert_many.
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    db.cursor().executemany(sql, [tuple(f.db_value(v) for f, v in zip(fields, row, strict=True)) for row in rows])


def _copy(table: str, columns: list[str], rows: Iterable[tuple]) -> None:
    """PostgreSQL COPY from an in-memory CSV (None → NULL): far faster than INSERTs."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(tuple(_csv_value(value) for value in row) for row in rows)
    buffer.seek(0)
    cursor = db.cursor()
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buffer)


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def _refresh_statistics() -> None:
    """ANALYZE for the planner; on PostgreSQL also VACUUM, so counts can be index-only scans."""
    if not _is_postgres():
        db.execute_sql("ANALYZE")
        return
    connection = db.connection()
    previous, connection.autocommit = connection.autocommit, True  # VACUUM refuses to run in a transaction
    try:
        _lift_statement_timeout("SET")
        db.execute_sql("VACUUM ANALYZE users, projects, milestones")
    finally:
        db.execute_sql("RESET statement_timeout")
        connection.autocommit = previous


def _lift_statement_timeout(command: str) -> None:
    """A bulk load legitimately runs longer than the API's statement timeout (PostgreSQL only)."""
    if _is_postgres():
        db.execute_sql(f"{command} statement_timeout = 0")
