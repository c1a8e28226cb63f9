"""``python -m bench.explain``: EXPLAIN ANALYZE of the queries behind each list variant and the detail.

Runs the real service functions against the benchmark database (``BENCH_DATABASE_URL``, default
``cairn_bench``, loaded by ``make bench``) for its heaviest tenant, captures the SQL they send,
and prints each statement with its plan. Nothing is written.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/cairn_bench"
HEAVIEST = "bench-user-0001@cairn.local"
LIMIT = 20


def captured_sql(run: Callable[[], object]) -> list[str]:
    """The statements ``run`` executes, with their parameters inlined by psycopg2."""
    from models.db import db

    statements: list[str] = []
    original = db.obj.execute_sql

    def capture(sql, params=None, *args, **kwargs):
        statements.append(db.obj.cursor().mogrify(sql, params).decode())
        return original(sql, params, *args, **kwargs)

    db.obj.execute_sql = capture
    try:
        run()
    finally:
        db.obj.execute_sql = original
    return statements


def main() -> int:
    os.environ.setdefault("DATABASE_URL", os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    from models import Project, User
    from models.db import db
    from services import projects
    from store.database import init_db
    from store.projects import owned_by

    init_db(os.environ["DATABASE_URL"])
    with db.connection_context():
        user = User.get(User.email == HEAVIEST)
        live = Project.select().where(owned_by(user.id)).count()
        last_page = -(-live // LIMIT)
        sample = Project.select(Project.id).where(owned_by(user.id)).order_by(Project.id).first()
        cases = {
            "list (default sort -createdAt)": lambda: projects.list_projects(user.id),
            "list ?search=ridge": lambda: projects.list_projects(user.id, search="ridge"),
            "list ?status=inactive": lambda: projects.list_projects(user.id, status="inactive"),
            f"list ?page={last_page} (deep page)": lambda: projects.list_projects(user.id, page=last_page),
            "detail (project + milestones)": lambda: projects.get_project(user.id, sample.id),
        }
        print(f"{HEAVIEST}: {live} live projects\n")
        for name, run in cases.items():
            for sql in captured_sql(run):
                # The parameters are inlined already: a literal % must not read as a placeholder.
                plan = db.execute_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql.replace("%", "%%")).fetchall()
                print(f"=== {name}\n{sql};\n" + "\n".join(row[0] for row in plan) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
