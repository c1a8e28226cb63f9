"""``make bench``: load the large seed, start the API as production does, drive it with wrk.

Steps (bench/README.md says what the figures mean):

1. ``wrk`` from the Debian package if it is missing (``apt-get``; the machine kind runs as root);
2. a dedicated PostgreSQL database (``BENCH_DATABASE_URL``, default ``cairn_bench``): created,
   migrated, and loaded with the large seed (``bench/seed.py``) unless it already holds exactly
   that seed (the rows a previous run wrote are removed first, so a re-run reuses it);
3. bcrypt's hashes per second on this machine, all cores busy (the login ceiling);
4. the API via ``make api`` (gunicorn + uvicorn workers, ``APP_ENV=production``), rate limits
   raised through the environment, a pool sized to the worker;
5. many users logged in up front; each endpoint warmed up, then driven at each connection level
   for a fixed duration;
6. two tables on stdout (verdicts, CPU per request), the run in ``bench/results/latest.json``.

Options: ``python -m bench.run --help``. Environment: ``BENCH_DATABASE_URL``, ``BENCH_REDIS_URL``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import bcrypt
import psycopg2

from bench.harness import (
    PROCESS_GROUPS,
    REFERENCE_CONNECTIONS,
    Row,
    WrkResult,
    cpu_per_request,
    format_cpu_table,
    format_table,
    judge,
    level_order,
    login_ceiling,
    merge_cpu,
    merge_runs,
    parse_wrk_output,
    refresh_script,
    requests_script,
    results_json,
    wait_until_idle,
)
from bench.seed import BENCH_PASSWORD, BIG_TENANT_EMAIL, HEAVY_SHARES, bench_email
from core.config import Settings, default_web_concurrency

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "var" / "bench"
LUA = ROOT / "bench" / "wrk.lua"
PYTHON = sys.executable

HEAVY_USERS = tuple(range(1, len(HEAVY_SHARES) + 1))  # the seed's heavy tenants (30 %, 20 %, 10 % of all projects)
WRITE_NAME_PREFIX = "Bench write"
SEARCH_TERMS = ("ridge", "glacier", "Summit", "hut", "trail", "basin")
TOKEN_MAX_AGE_SECONDS = 10 * 60  # access tokens live 15 minutes: log in again well before
BCRYPT_ROUNDS = 10
WRK_TIMEOUT = "10s"


@dataclass(frozen=True)
class Endpoint:
    name: str
    cls: str
    levels: tuple[int, ...]


def endpoints(levels: tuple[int, ...]) -> list[Endpoint]:
    login_levels = tuple(sorted({1, 2, *levels}))
    return [
        Endpoint("login", "login", login_levels),
        Endpoint("refresh", "refresh", levels),
        Endpoint("list", "list", levels),
        Endpoint("list_search", "list", levels),
        Endpoint("list_status", "list", levels),
        Endpoint("list_deep_page", "list", levels),
        Endpoint("detail", "detail", levels),
        Endpoint("create", "write", levels),
        Endpoint("update", "write", levels),
        Endpoint("big_first_page", "list", levels),
        Endpoint("big_cursor_deep", "list", levels),
        Endpoint("big_cursor_walk", "list", levels),
    ]


# Set-up ---------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def ensure_wrk() -> str:
    """The wrk binary, installed from the Debian package when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    log("wrk is missing: installing the Debian package")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    return shutil.which("wrk") or sys.exit("wrk could not be installed")


def admin_url(database_url: str) -> tuple[str, str]:
    parts = urlsplit(database_url)
    return urlunsplit((parts.scheme, parts.netloc, "/postgres", "", "")), parts.path.lstrip("/")


def sql(database_url: str, statement: str, params: tuple = (), *, autocommit: bool = False) -> list[tuple]:
    conn = psycopg2.connect(database_url, connect_timeout=5)
    conn.autocommit = autocommit  # VACUUM and CREATE DATABASE refuse to run in a transaction
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows
    finally:
        conn.close()


def manage(database_url: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "APP_ENV": "development"}
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)


def seed_counts(database_url: str) -> tuple[int, int, int]:
    return sql(
        database_url,
        "SELECT (SELECT count(*) FROM users WHERE email LIKE 'bench-user-%%'),"
        " (SELECT count(*) FROM projects p JOIN users u ON u.id = p.user_id WHERE u.email LIKE 'bench-user-%%'),"
        " (SELECT count(*) FROM milestones)",
    )[0]


def prepare_database(database_url: str, users: int, projects: int, milestones: int, big_tenant: int = 0) -> None:
    """A migrated database holding exactly the large seed (reused when it already does), and the
    big tenant (``--big-tenant`` projects of one more user) if asked for and not there yet."""
    server, name = admin_url(database_url)
    exists = sql(server, "SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    if exists:
        manage(database_url, "migrate")
        forget_previous_runs(database_url)
        if seed_counts(database_url) == (users, projects, milestones):
            log(f"database {name} already holds the seed ({users} users, {projects} projects): reused")
            load_big_tenant(database_url, big_tenant)
            return
        log(f"database {name} holds another data set: recreating it")
        sql(server, f'DROP DATABASE "{name}" WITH (FORCE)', autocommit=True)
    sql(server, f'CREATE DATABASE "{name}"', autocommit=True)
    manage(database_url, "migrate")
    log(f"loading the large seed into {name} (about a minute)")
    manage(
        database_url,
        "seed",
        "--large",
        f"--users={users}",
        f"--projects={projects}",
        f"--milestones={milestones}",
    )
    load_big_tenant(database_url, big_tenant)


def load_big_tenant(database_url: str, projects: int) -> None:
    if projects:
        log(f"making sure the big tenant owns {projects:,} projects (a few minutes the first time)")
        manage(
            database_url, "seed", "--large", "--users=0", "--projects=0", "--milestones=0", f"--big-tenant={projects}"
        )


def forget_previous_runs(database_url: str) -> None:
    """Remove what earlier runs wrote (projects, sessions, audit, outbox), then vacuum and analyze."""
    sql(database_url, "DELETE FROM projects WHERE name LIKE %s", (f"{WRITE_NAME_PREFIX} %",))
    sql(database_url, "TRUNCATE sessions, refresh_tokens, login_throttles, outbox, audit_logs CASCADE")
    sql(database_url, "VACUUM ANALYZE users, projects, milestones", autocommit=True)


def bcrypt_ceiling(seconds: float = 4.0) -> dict:
    """bcrypt checks per second at 10 rounds on one core and on every core at once (the login
    ceiling), and the CPU one check costs. Threads suffice: bcrypt releases the GIL."""
    hashed = bcrypt.hashpw(BENCH_PASSWORD.encode(), bcrypt.gensalt(BCRYPT_ROUNDS))
    cores = os.cpu_count() or 1
    cpu_started = time.process_time()
    one_core, checks = _checks_per_second(hashed, seconds / 2, threads=1)
    cpu_ms = 1000 * (time.process_time() - cpu_started) / checks
    all_cores, _ = _checks_per_second(hashed, seconds, threads=cores)
    return {
        "rounds": BCRYPT_ROUNDS,
        "cores": cores,
        "one_core_per_s": round(one_core, 2),
        "all_cores_per_s": round(all_cores, 2),
        "cpu_ms_per_check": round(cpu_ms, 1),
    }


def _checks_per_second(hashed: bytes, seconds: float, threads: int) -> tuple[float, int]:
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()

    def loop(_: int) -> int:
        done = 0
        while time.perf_counter() < deadline:
            bcrypt.checkpw(BENCH_PASSWORD.encode(), hashed)
            done += 1
        return done

    with ThreadPoolExecutor(threads) as pool:
        checks = sum(pool.map(loop, range(threads)))
    return checks / (time.perf_counter() - started), checks


def measure_ceiling(when: str) -> dict:
    log(f"measuring bcrypt {when} (all cores busy)")
    ceiling = bcrypt_ceiling()
    log(
        f"bcrypt at {BCRYPT_ROUNDS} rounds: {ceiling['one_core_per_s']}/s on one core,"
        f" {ceiling['all_cores_per_s']}/s on all {ceiling['cores']}, {ceiling['cpu_ms_per_check']} ms CPU a check"
    )
    return ceiling


# The API --------------------------------------------------------------------------------------


@contextmanager
def running_api(args: argparse.Namespace) -> Iterator[subprocess.Popen]:
    """``make api`` in production mode, in its own process group; stopped (SIGTERM, drained) at the end."""
    WORK.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "APP_ENV": "production",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "JWT_SECRET": secrets.token_urlsafe(48),
        "PORT": str(args.port),
        "WEB_CONCURRENCY": str(args.workers),
        "REQUEST_THREADS": str(args.threads),
        "DB_POOL_SIZE": str(args.pool_size),
        "RATE_LIMIT_DEFAULT": "10000000/minute",  # the limits are proven by the security tests
        "RATE_LIMIT_AUTH": "10000000/minute",
        "LOG_LEVEL": args.log_level,
        "EMAIL_BACKEND": "file",
        "MAIL_DIR": str(WORK / "mail"),
        "PROMETHEUS_MULTIPROC_DIR": str(WORK / "prometheus"),
    }
    with (WORK / "api.log").open("w") as out:
        api = subprocess.Popen(
            ["make", "-s", "api"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_ready(args.base_url, api)
        yield api
    finally:
        os.killpg(api.pid, signal.SIGTERM)
        try:
            api.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(api.pid, signal.SIGKILL)


def wait_ready(base_url: str, api: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api.poll() is not None:
            sys.exit(f"the API exited with {api.returncode}; see {WORK / 'api.log'}")
        try:
            with urllib.request.urlopen(f"{base_url}/health/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    sys.exit(f"the API was not ready within {timeout:.0f} s; see {WORK / 'api.log'}")


def child_pids(pid: int) -> list[int]:
    listed = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in listed.stdout.split()]


def worker_pids(api: subprocess.Popen) -> list[int]:
    """The gunicorn workers under ``make`` → gunicorn master."""
    return [worker for master in child_pids(api.pid) for worker in child_pids(master)]


def _stat_cpu_ticks(stat_text: str) -> int:
    fields = stat_text.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes used so far: the cost per request, whatever else runs on the machine."""
    total = 0
    for pid in pids:
        try:
            total += _stat_cpu_ticks(Path(f"/proc/{pid}/stat").read_text())
        except FileNotFoundError:
            continue
    return total / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(api_pids: list[int]) -> dict:
    """CPU seconds used so far by the API workers, wrk and the whole machine, and by each
    PostgreSQL and Redis process (``harness.cpu_per_request`` takes two of these).

    wrk is measured as this process's finished children (it runs and is reaped between two
    snapshots); ``machine`` is every core's busy time from /proc/stat, and ``steal`` the time the
    hypervisor gave this VM's cores to another (apart: it is not this machine's work).
    """
    tick = os.sysconf("SC_CLK_TCK")
    processes = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        group = PROCESS_GROUPS.get(text[text.index("(") + 1 : text.rindex(")")])
        if group:
            processes[int(stat.parent.name)] = (group, _stat_cpu_ticks(text) / tick)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return {
        "api": cpu_seconds(api_pids),
        "wrk": children.ru_utime + children.ru_stime,
        "machine": (user + nice + system + irq + softirq) / tick,
        "steal": steal / tick,
        "processes": processes,
    }


def get_json(base_url: str, path: str, token: str) -> dict:
    request = urllib.request.Request(f"{base_url}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def post_json(base_url: str, path: str, body: dict, token: str | None = None) -> dict:
    request = urllib.request.Request(
        f"{base_url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


# Users and their data ---------------------------------------------------------------------------


@dataclass
class Session:
    number: int
    user_id: str
    access: str
    refresh: str


class Sessions:
    """Logged-in bench users, logged in again before their access tokens could expire."""

    def __init__(self, base_url: str, numbers: list[int]) -> None:
        self.base_url = base_url
        self.numbers = numbers
        self.items: list[Session] = []
        # -inf, not 0: time.monotonic() counts from boot, so on a machine up for less than
        # TOKEN_MAX_AGE_SECONDS a 0 would look like a recent log-in and nobody would log in.
        self.logged_in_at = -math.inf

    def fresh(self) -> list[Session]:
        if time.monotonic() - self.logged_in_at > TOKEN_MAX_AGE_SECONDS:
            started = time.monotonic()
            with ThreadPoolExecutor(8) as pool:
                self.items = list(pool.map(self._login, self.numbers))
            self.logged_in_at = time.monotonic()
            log(f"logged in {len(self.items)} users in {self.logged_in_at - started:.1f} s")
        return self.items

    def _login(self, number: int) -> Session:
        body = post_json(
            self.base_url, "/api/v1/auth/login", {"email": bench_email(number), "password": BENCH_PASSWORD}
        )
        tokens = body["tokens"]
        return Session(number, body["user"]["id"], tokens["accessToken"], tokens["refreshToken"])

    def expire(self) -> None:
        self.logged_in_at = -math.inf

    def by_number(self) -> dict[int, Session]:
        return {s.number: s for s in self.fresh()}


def projects_with_milestones(database_url: str, user_ids: list[str], per_user: int) -> dict[str, list[str]]:
    rows = sql(
        database_url,
        """
        SELECT user_id::text, id::text FROM (
            SELECT p.user_id, p.id, row_number() OVER (PARTITION BY p.user_id ORDER BY p.id) AS n
            FROM projects p
            WHERE p.user_id = ANY(%s::uuid[]) AND p.deleted_at IS NULL AND p.name NOT LIKE %s
              AND EXISTS (SELECT 1 FROM milestones m WHERE m.project_id = p.id AND m.deleted_at IS NULL)
        ) ranked WHERE n <= %s
        """,
        (user_ids, f"{WRITE_NAME_PREFIX} %", per_user),
    )
    found: dict[str, list[str]] = {}
    for user_id, project_id in rows:
        found.setdefault(user_id, []).append(project_id)
    return found


def last_page(database_url: str, user_id: str, limit: int = 20) -> int:
    (count,) = sql(database_url, "SELECT count(*) FROM projects WHERE user_id = %s AND deleted_at IS NULL", (user_id,))[
        0
    ]
    return max(1, -(-count // limit))


# Workloads ------------------------------------------------------------------------------------


class Workloads:
    """The wrk data file of each endpoint, built from live sessions and the database."""

    def __init__(self, args: argparse.Namespace, sessions: Sessions) -> None:
        self.args = args
        self.sessions = sessions
        self.rng = random.Random(20261125)
        self.refresh_cursor = 0

    def list_sessions(self) -> list[Session]:
        """Every logged-in user, with the three heavy tenants making a quarter of the list traffic."""
        everyone = self.sessions.fresh()
        heavy = [s for s in everyone if s.number in HEAVY_USERS]
        light = [s for s in everyone if s.number not in HEAVY_USERS]
        weighted = light + heavy * max(1, len(light) // (3 * len(heavy)))
        self.rng.shuffle(weighted)
        return weighted

    def data(self, endpoint: str, connections: int) -> str:
        builder: Callable[[int], str] = getattr(self, f"_{endpoint}")
        return builder(connections)

    def _login(self, _connections: int) -> str:
        bodies = [
            (
                "POST",
                "/api/v1/auth/login",
                None,
                json.dumps({"email": bench_email(n), "password": BENCH_PASSWORD}),
            )
            for n in range(1, self.args.users + 1)
        ]
        self.rng.shuffle(bodies)
        return requests_script(bodies)

    def _refresh(self, connections: int) -> str:
        """A refresh token of its own per connection, none used before (rotation makes them single-use)."""
        pool = self.sessions.fresh()
        if self.refresh_cursor + connections > len(pool):
            self.sessions.expire()  # all used up: log everyone in again
            pool, self.refresh_cursor = self.sessions.fresh(), 0
        chosen = pool[self.refresh_cursor : self.refresh_cursor + connections]
        self.refresh_cursor += connections
        return refresh_script("/api/v1/auth/refresh", [s.refresh for s in chosen])

    def _list(self, _connections: int) -> str:
        return requests_script(("GET", "/api/v1/projects", s.access, None) for s in self.list_sessions())

    def _list_search(self, _connections: int) -> str:
        return requests_script(
            ("GET", f"/api/v1/projects?search={SEARCH_TERMS[i % len(SEARCH_TERMS)]}", s.access, None)
            for i, s in enumerate(self.list_sessions())
        )

    def _list_status(self, _connections: int) -> str:
        return requests_script(
            ("GET", "/api/v1/projects?status=inactive", s.access, None) for s in self.list_sessions()
        )

    def _list_deep_page(self, _connections: int) -> str:
        """The last page of each heavy tenant (OFFSET in the tens of thousands)."""
        by_number = self.sessions.by_number()
        heavy = [by_number[n] for n in HEAVY_USERS if n in by_number]
        return requests_script(
            ("GET", f"/api/v1/projects?page={last_page(self.args.database_url, s.user_id)}", s.access, None)
            for s in heavy
        )

    def _big_token(self) -> str:
        if not getattr(self, "big_token", None):
            body = post_json(
                self.args.base_url, "/api/v1/auth/login", {"email": BIG_TENANT_EMAIL, "password": BENCH_PASSWORD}
            )
            self.big_token = body["tokens"]["accessToken"]
        return self.big_token

    def _big_cursor_at(self, page: int) -> str:
        """The cursor after page ``page`` of 100 of the big tenant's projects (newest first)."""
        body = get_json(self.args.base_url, f"/api/v1/projects?page={page}&limit=100", self._big_token())
        return body["meta"]["nextCursor"]

    def _big_first_page(self, _connections: int) -> str:
        """The big tenant's first page, with its exact total (a count of a million rows)."""
        return requests_script([("GET", "/api/v1/projects", self._big_token(), None)])

    def _big_pages(self) -> int:
        """Pages of 100 of the big tenant's live projects."""
        total = get_json(self.args.base_url, "/api/v1/projects?limit=1", self._big_token())["meta"]["total"]
        return -(-total // 100)

    def _big_cursor_deep(self, _connections: int) -> str:
        """A cursor page half-way through the big tenant's million projects."""
        cursor = self._big_cursor_at(self._big_pages() // 2)
        return requests_script([("GET", f"/api/v1/projects?cursor={cursor}", self._big_token(), None)])

    def _big_cursor_walk(self, _connections: int) -> str:
        """Cursor pages at ten depths spread over the whole walk (as a client walking it meets them)."""
        last = max(1, self._big_pages() - 1)
        cursors = [self._big_cursor_at(max(1, last * n // 9)) for n in range(10)]
        token = self._big_token()
        return requests_script([("GET", f"/api/v1/projects?cursor={c}", token, None) for c in cursors if c])

    def _owned_pairs(self) -> list[tuple[Session, str]]:
        sessions = self.list_sessions()
        owned = projects_with_milestones(self.args.database_url, sorted({s.user_id for s in sessions}), per_user=20)
        pairs = [(s, project) for s in sessions for project in owned.get(s.user_id, [])[:5]]
        self.rng.shuffle(pairs)
        return pairs

    def _detail(self, _connections: int) -> str:
        return requests_script(("GET", f"/api/v1/projects/{p}", s.access, None) for s, p in self._owned_pairs())

    def _create(self, _connections: int) -> str:
        return requests_script(
            (
                "POST",
                "/api/v1/projects",
                s.access,
                json.dumps({"name": f"{WRITE_NAME_PREFIX} {i}", "description": "Benchmark write."}),
            )
            for i, s in enumerate(self.list_sessions())
        )

    def _update(self, _connections: int) -> str:
        return requests_script(
            ("PATCH", f"/api/v1/projects/{p}", s.access, json.dumps({"description": f"Benchmark update {i}."}))
            for i, (s, p) in enumerate(self._owned_pairs())
        )


# Driving wrk --------------------------------------------------------------------------------------


def run_wrk(wrk: str, base_url: str, data: str, connections: int, seconds: float) -> WrkResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", dir=WORK, delete=False) as handle:
        handle.write(data)
    try:
        done = subprocess.run(
            [
                wrk,
                f"-t{connections}",
                f"-c{connections}",
                f"-d{round(seconds)}s",
                f"--timeout={WRK_TIMEOUT}",
                "-s",
                str(LUA),
                base_url,
                "--",
                handle.name,
            ],
            capture_output=True,
            text=True,
            timeout=round(seconds) + 60,
        )
    finally:
        os.unlink(handle.name)
    if done.returncode != 0:
        sys.exit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse_wrk_output(done.stdout)


def drive(
    args: argparse.Namespace, wrk: str, api: subprocess.Popen, workloads: Workloads, endpoint: Endpoint
) -> list[Row]:
    """Warm the endpoint up, then run its levels in ``level_order``; one row per level, its runs merged."""
    run_wrk(wrk, args.base_url, workloads.data(endpoint.name, 16), 16, args.warmup)
    runs: dict[int, list[tuple[WrkResult, dict[str, float]]]] = {}
    for connections in level_order(endpoint.levels, args.repeats):
        workers = worker_pids(api)
        settle(workers)
        data = workloads.data(endpoint.name, connections)
        cpu_before = cpu_snapshot(workers)
        with profiling(args, api, endpoint.name, connections, first=connections not in runs):
            result = run_wrk(wrk, args.base_url, data, connections, args.duration)
            cpu_after = cpu_snapshot(workers)  # before py-spy is reaped: its CPU is not wrk's
        cpu = cpu_per_request(cpu_before, cpu_after, result.requests)
        log(
            f"{endpoint.name:<15} c={connections:<3} {result.requests:6d} req {result.rps:8.1f} req/s"
            f"  p50 {result.p50_ms:7.1f}  p95 {result.p95_ms:7.1f}  p99 {result.p99_ms:7.1f} ms"
            f"  errors {result.errors}  CPU ms/req: " + " ".join(f"{group} {ms}" for group, ms in cpu.items())
        )
        runs.setdefault(connections, []).append((result, cpu))
    rows = []
    for connections in endpoint.levels:
        results = [result for result, _ in runs[connections]]
        row = Row.from_wrk(endpoint.name, endpoint.cls, connections, merge_runs(results))
        row.cpu_ms = merge_cpu([(result.requests, cpu) for result, cpu in runs[connections]])
        row.api_cpu_ms = row.cpu_ms.get("api", 0.0)
        row.runs = len(results)
        rows.append(row)
    return rows


def settle(workers: list[int]) -> None:
    """Wait until the API has finished what the last run left in flight (``harness.wait_until_idle``)."""
    waited, idle = wait_until_idle(lambda: cpu_seconds(workers), time.sleep)
    if not idle:
        log(f"the API workers were still busy after {waited:.0f} s; measuring anyway")
    elif waited > 1:
        log(f"waited {waited:.1f} s for the API to finish the last run's requests")


@contextmanager
def profiling(
    args: argparse.Namespace, api: subprocess.Popen, endpoint: str, connections: int, *, first: bool
) -> Iterator[None]:
    """py-spy on every worker during ``endpoint``'s first run at 16 connections (``--profile ENDPOINT``)."""
    if args.profile != endpoint or connections != REFERENCE_CONNECTIONS or not first:
        yield
        return
    spies = [
        subprocess.Popen(
            [
                str(Path(PYTHON).parent / "py-spy"),
                "record",
                "--pid",
                str(pid),
                "--format",
                "raw",
                "--rate",
                "200",
                "--nonblocking",
                "--gil",
                "-o",
                str(WORK / f"profile-{endpoint}-{pid}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in worker_pids(api)
    ]
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            spy.wait(timeout=30)
        log(f"profile: python -m bench.profile --requests <req below> {WORK}/profile-{endpoint}-*.txt")


# Results ------------------------------------------------------------------------------------------


def machine(args: argparse.Namespace, ceiling: dict) -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "host": socket.gethostname(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "postgres": sql(args.database_url, "SHOW server_version")[0][0],
        # Off on the project machines: the write rows then run without the vacuuming a server would do.
        "postgres_autovacuum": sql(args.database_url, "SHOW autovacuum")[0][0],
        "commit": commit,
        "workers": args.workers,
        "request_threads": args.threads,
        "pool_size": args.pool_size,
        "duration_s": args.duration,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "bcrypt": ceiling,
    }


def ceilings(rows: list[Row]) -> str:
    best: dict[str, float] = {}
    for row in rows:
        best[row.cls] = max(best.get(row.cls, 0.0), row.rps)
    return ", ".join(f"{cls} {rps:.0f}" for cls, rps in best.items())


def write_results(rows: list[Row], about: dict) -> Path:
    """``bench/results/latest.json``: the machine, then the rows (earlier runs: ``git log -p`` of the file)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "latest.json"
    path.write_text(results_json(rows, about))
    return path


def clear_broker_queues(redis_url: str) -> None:
    """The audit/email tasks logins queued (no worker runs during the benchmark): drop them."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    with client:
        for key in client.scan_iter(match="*"):
            name = key.decode(errors="replace")
            if name.split("\x06")[0] in ("emails", "audit", "maintenance") or name.startswith(("unacked", "_kombu")):
                client.delete(key)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/cairn_bench"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10"))
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument(
        "--workers",
        type=int,
        default=default_web_concurrency(),
        help="WEB_CONCURRENCY (default: cores + 1, as make api)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=Settings().request_threads,
        help="REQUEST_THREADS per worker (default: as make api)",
    )
    parser.add_argument(
        "--pool-size", type=int, default=0, help="DB_POOL_SIZE per worker (default: sized to the worker)"
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (default 10)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=2,
        help="runs of each level from 16 connections up, in mirrored order: 16, 64, 64, 16 (default 2)",
    )
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per endpoint at 16 connections")
    parser.add_argument("--connections", default="1,16,64", help="levels (login also runs at 1 and 2)")
    parser.add_argument("--only", default="", help="comma-separated endpoints (default: all)")
    parser.add_argument("--users", type=int, default=1000, help="seed size: users")
    parser.add_argument("--projects", type=int, default=100_000, help="seed size: projects")
    parser.add_argument("--milestones", type=int, default=300_000, help="seed size: milestones")
    parser.add_argument(
        "--big-tenant", type=int, default=1_000_000, help="projects of the big tenant the big_* endpoints walk"
    )
    parser.add_argument("--sessions", type=int, default=200, help="users logged in for the token-bearing endpoints")
    parser.add_argument(
        "--log-level", default="INFO", help="the API's LOG_LEVEL (production logs every request at INFO)"
    )
    parser.add_argument("--profile", default="", help="record a py-spy profile of the workers during this endpoint")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--no-save", action="store_true", help="print the table but write no results file")
    args = parser.parse_args(argv)
    args.levels = tuple(int(c) for c in args.connections.split(","))
    args.base_url = f"http://127.0.0.1:{args.port}"
    # A worker holds at most one connection per request thread (the session check shares the
    # request's connection), so a pool as large as the threads never waits.
    args.pool_size = args.pool_size or args.threads
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = ensure_wrk()
    prepare_database(args.database_url, args.users, args.projects, args.milestones, args.big_tenant)
    ceiling = measure_ceiling("at start")
    about = machine(args, ceiling)
    chosen = [e for e in endpoints(args.levels) if not args.only or e.name in args.only.split(",")]
    numbers = sorted({*HEAVY_USERS, *range(1, min(args.sessions, args.users) + 1)})
    rows: list[Row] = []
    login_ceilings: list[float] = []
    with running_api(args) as api:
        log(f"API up: {args.workers} workers × {args.threads} threads, pool {args.pool_size} each, {args.base_url}")
        workloads = Workloads(args, Sessions(args.base_url, numbers))
        for endpoint in chosen:
            if endpoint.cls == "login":  # the ceiling again, right before and after: the machine's speed drifts
                login_ceilings.append(measure_ceiling("before login")["all_cores_per_s"])
            rows += drive(args, wrk, api, workloads, endpoint)
            if endpoint.cls == "login":
                login_ceilings.append(measure_ceiling("after login")["all_cores_per_s"])
    clear_broker_queues(args.redis_url)
    about["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    if login_ceilings:
        about["bcrypt"]["around_login_per_s"] = login_ceilings
    judge(rows, login_ceiling(about["bcrypt"]), ceiling["cpu_ms_per_check"], cores=ceiling["cores"])
    print()
    print(format_table(rows))
    print("\nCPU per request, machine-wide (ms; total is every core's busy time over the requests served):")
    print(format_cpu_table(rows))
    print("\nthroughput ceiling per class (best req/s over the levels): " + ceilings(rows))
    if not args.no_save:
        log(f"results: {write_results(rows, about)}")
    failed = [r for r in rows if r.verdict.startswith("FAIL")]
    log(f"{len(failed)} of {len(rows)} rows miss their target" if failed else "every target met")
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
