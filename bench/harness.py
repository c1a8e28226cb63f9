"""The benchmark's pure parts: wrk data files, wrk output, the seed's targets, verdicts, the table.

Kept free of I/O so that ``tests/unit/test_bench_harness.py`` checks them in CI in milliseconds
(the benchmark itself is too heavy for CI; ``make bench`` runs it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field

RESULT_PREFIX = "BENCH_RESULT "
CLASSES = ("login", "refresh", "list", "detail", "write")

# The seed's table (REQUIREMENTS.md "Performance"): p50, p95, p99 in milliseconds.
TARGETS_MS: dict[str, tuple[float, float, float]] = {
    "login": (100, 200, 500),
    "refresh": (100, 200, 500),
    "list": (100, 300, 500),
    "detail": (50, 100, 200),
    "write": (100, 200, 500),
}
REFERENCE_CONNECTIONS = 16  # where every class but login must meet its targets
LOGIN_TARGET_CONNECTIONS = (1, 2)  # login meets its latency targets here …
LOGIN_CEILING_SHARE = 0.90  # … and reaches this share of the bcrypt ceiling at 16
# "No collapse under overload": at 64 connections throughput must hold at the 16-connection level.
# Two runs of the same level differ by a few per cent on a shared machine, so 5 % is allowed.
OVERLOAD_RPS_SHARE = 0.95
# A row whose runs lost this share of the cores' time to the hypervisor says so beside its verdict,
# as context for the figures (a contended host moves them more than most changes), not as an excuse.
STOLEN_NOTE_SHARE = 0.10


class WrkOutputError(ValueError):
    """wrk printed no BENCH_RESULT line (it failed, or the script did not run)."""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # non-2xx responses (wrk counts status >= 400) + socket errors (connect, read, write, timeout)

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def parse_wrk_output(stdout: str) -> WrkResult:
    """The numbers from the ``BENCH_RESULT {json}`` line that ``bench/wrk.lua``'s ``done()`` prints.

    Raises WrkOutputError when the line is missing or malformed.
    """
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            try:
                raw = json.loads(line.removeprefix(RESULT_PREFIX))
            except json.JSONDecodeError as exc:
                raise WrkOutputError(f"malformed result line: {line!r}") from exc
            return WrkResult(
                requests=raw["requests"],
                duration_s=raw["duration_us"] / 1e6,
                p50_ms=raw["p50_us"] / 1000,
                p95_ms=raw["p95_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
                max_ms=raw["max_us"] / 1000,
                errors=raw["status_errors"] + raw["socket_errors"],
            )
    raise WrkOutputError(f"no {RESULT_PREFIX.strip()} line in wrk output:\n{stdout[-2000:]}")


# Lua data files ---------------------------------------------------------------------------------


def lua_value(value: object) -> str:
    """A Python value as a Lua literal: str, int, float, bool, None (→ false), list, dict (string keys)."""
    if value is None or value is False:
        return "false"
    if value is True:
        return "true"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        if not value.isascii():
            raise ValueError("non-ASCII text cannot go into a wrk data file (LuaJIT has no \\u escapes)")
        return json.dumps(value)  # for ASCII, a JSON string literal is a valid Lua one
    if isinstance(value, list | tuple):
        return "{" + ", ".join(lua_value(item) for item in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{lua_value(str(k))}] = {lua_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to Lua")


def requests_script(requests: Iterable[Sequence]) -> str:
    """A data file cycling through ``(method, path, access token or None, JSON body or None)`` tuples."""
    rows = [list(r) for r in requests]
    if not rows:
        raise ValueError("a benchmark needs at least one request")
    return "return " + lua_value({"mode": "requests", "requests": rows}) + "\n"


def refresh_script(path: str, refresh_tokens: Sequence[str]) -> str:
    """A data file for refresh: connection i starts with ``refresh_tokens[i]`` and keeps the rotated one."""
    if not refresh_tokens:
        raise ValueError("refresh needs one refresh token per connection")
    return "return " + lua_value({"mode": "refresh", "path": path, "tokens": list(refresh_tokens)}) + "\n"


# Rows and verdicts ------------------------------------------------------------------------------


@dataclass
class Row:
    endpoint: str
    cls: str
    connections: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    max_ms: float = 0.0
    api_cpu_ms: float = 0.0  # CPU the API workers spent per request (cpu_ms['api'], kept as its own field)
    # CPU per request by process group (api, postgres, redis, wrk, other) and the machine's total busy time
    cpu_ms: dict[str, float] = field(default_factory=dict)
    runs: int = 1  # wrk runs merged into this row (see merge_runs)
    verdict: str = ""  # "pass", "FAIL: …", or "" (reported only)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_wrk(cls, endpoint: str, klass: str, connections: int, result: WrkResult) -> Row:
        return cls(
            endpoint=endpoint,
            cls=klass,
            connections=connections,
            rps=round(result.rps, 1),
            p50_ms=round(result.p50_ms, 2),
            p95_ms=round(result.p95_ms, 2),
            p99_ms=round(result.p99_ms, 2),
            errors=result.errors,
            requests=result.requests,
            max_ms=round(result.max_ms, 2),
        )

    def to_json(self) -> dict:
        data = asdict(self)
        data["class"] = data.pop("cls")
        p50, p95, p99 = TARGETS_MS[self.cls]
        data.update(target_p50_ms=p50, target_p95_ms=p95, target_p99_ms=p99)
        return data


# Repeated levels ------------------------------------------------------------------------------------


def level_order(levels: Sequence[int], repeats: int = 2) -> list[int]:
    """The order the levels run in: those below the reference level once, then the reference level
    and above ``repeats`` times, mirrored (16, 64, 64, 16), so that a drift of the machine's speed
    during the minute weighs on the levels being compared alike."""
    single = [c for c in levels if c < REFERENCE_CONNECTIONS]
    compared = [c for c in levels if c >= REFERENCE_CONNECTIONS]
    order = list(single)
    for repeat in range(repeats):
        order += compared if repeat % 2 == 0 else compared[::-1]
    return order


# A run must measure only its own requests. When wrk stops, the API still holds the requests it
# had in flight, and finishes them: at 64 connections up to 64 logins, about 2.3 s of both cores.
# A fixed 1 s pause let that work spill into the next run, which then showed 8 ms more API CPU a
# login and 11 % fewer logins a second (login at 16 read 83-84 % of the bcrypt ceiling instead of
# 89 %). So each run waits for the workers to go quiet instead.
IDLE_POLL_S = 0.25
IDLE_CPU_SHARE = 0.10  # of one core, over one poll: the API's own timers use next to nothing
IDLE_MAX_WAIT_S = 30.0


def wait_until_idle(
    cpu_seconds: Callable[[], float],
    sleep: Callable[[float], None],
    poll_s: float = IDLE_POLL_S,
    max_wait_s: float = IDLE_MAX_WAIT_S,
) -> tuple[float, bool]:
    """Poll ``cpu_seconds`` (the API workers' CPU so far) until one poll used under
    ``IDLE_CPU_SHARE`` of a core; return the seconds waited and whether it went idle in time."""
    waited = 0.0
    before = cpu_seconds()
    while waited < max_wait_s:
        sleep(poll_s)
        waited += poll_s
        now = cpu_seconds()
        if now - before < IDLE_CPU_SHARE * poll_s:
            return waited, True
        before = now
    return waited, False


def merge_runs(results: Sequence[WrkResult]) -> WrkResult:
    """Several runs of one level as one: throughput over all of them, the worst of each percentile."""
    return WrkResult(
        requests=sum(r.requests for r in results),
        duration_s=sum(r.duration_s for r in results),
        p50_ms=max(r.p50_ms for r in results),
        p95_ms=max(r.p95_ms for r in results),
        p99_ms=max(r.p99_ms for r in results),
        max_ms=max(r.max_ms for r in results),
        errors=sum(r.errors for r in results),
    )


def merge_cpu(runs: Sequence[tuple[int, dict[str, float]]]) -> dict[str, float]:
    """CPU per request over several runs ``(requests, cpu_ms)``, weighted by their requests."""
    total = sum(requests for requests, _ in runs)
    if not total:
        return {}
    groups = dict.fromkeys(group for _, cpu in runs for group in cpu)
    return {g: round(sum(n * cpu.get(g, 0.0) for n, cpu in runs) / total, 2) for g in groups}


# Where a request's CPU goes, machine-wide ----------------------------------------------------------

CPU_GROUPS = ("api", "postgres", "redis", "wrk", "other")
PROCESS_GROUPS = {"postgres": "postgres", "redis-server": "redis"}  # /proc/<pid>/stat command → group


def cpu_per_request(before: dict, after: dict, requests: int) -> dict[str, float]:
    """Milliseconds of CPU per request by group, from two snapshots of CPU seconds used so far.

    A snapshot holds ``api``, ``wrk``, ``machine`` (every core's busy time) and ``steal`` (time the
    hypervisor ran something else while this VM's cores wanted to run) in seconds, and
    ``processes``: ``{pid: (group, seconds)}`` for the PostgreSQL and Redis processes. Per pid, so
    that a process that starts between the snapshots (an autovacuum worker) counts what it used
    and one that ends changes nothing else. ``other`` is what the machine spent beyond the named
    groups (interrupts, the benchmark driver itself, anything else running); ``total`` is all of it.
    ``steal`` is apart from all of them: not this machine's work, but a sign the host was contended.
    """
    if not requests:
        return {}
    spent = {group: after.get(group, 0.0) - before.get(group, 0.0) for group in ("api", "wrk", "machine", "steal")}
    for pid, (group, seconds) in after.get("processes", {}).items():
        spent[group] = spent.get(group, 0.0) + seconds - before.get("processes", {}).get(pid, (group, 0.0))[1]
    named = sum(spent.get(group, 0.0) for group in CPU_GROUPS if group != "other")
    spent["other"] = spent["machine"] - named
    result = {group: round(1000 * max(0.0, spent.get(group, 0.0)) / requests, 2) for group in CPU_GROUPS}
    for group in ("machine", "steal"):
        result["total" if group == "machine" else group] = round(1000 * max(0.0, spent[group]) / requests, 2)
    return result


def _meets_latency(row: Row) -> list[str]:
    p50, p95, p99 = TARGETS_MS[row.cls]
    misses = [
        f"{name} {value:.0f} ms > {limit:.0f}"
        for name, value, limit in (("p50", row.p50_ms, p50), ("p95", row.p95_ms, p95), ("p99", row.p99_ms, p99))
        if value > limit
    ]
    if row.errors:
        misses.append(f"{row.errors} errors")
    return misses


def stolen_share(row: Row, cores: int) -> float:
    """The share of the cores' time the hypervisor gave to other guests during the row's runs."""
    return row.cpu_ms.get("steal", 0.0) * row.rps / (1000 * cores) if cores else 0.0


def judge(rows: list[Row], bcrypt_ceiling: float, bcrypt_cpu_ms: float = 0.0, cores: int = 0) -> None:
    """Fill in each row's verdict against the issue's targets (see the module constants).

    ``bcrypt_cpu_ms`` (CPU per check) adds notes for login: at 16 connections the share of a
    login's API CPU that is the check itself (unlike throughput, it holds when other work shares
    the machine); at 1 and 2, the check's own time, which on a slow host nearly fills the p50.
    With ``cores``, a row that lost ``STOLEN_NOTE_SHARE`` or more of them to the host notes it;
    the verdict stays what the figures say.
    """
    at16 = {r.endpoint: r for r in rows if r.connections == REFERENCE_CONNECTIONS}
    for row in rows:
        problems: list[str] = []
        if row.cls == "login" and row.connections == REFERENCE_CONNECTIONS:
            share = row.rps / bcrypt_ceiling if bcrypt_ceiling else 0.0
            row.notes.append(f"{share:.0%} of the bcrypt ceiling ({bcrypt_ceiling:.1f}/s)")
            if bcrypt_cpu_ms and row.api_cpu_ms:
                row.notes.append(f"bcrypt is {bcrypt_cpu_ms / row.api_cpu_ms:.0%} of a login's API CPU")
            if share < LOGIN_CEILING_SHARE:
                problems.append(f"{share:.0%} of the bcrypt ceiling < {LOGIN_CEILING_SHARE:.0%}")
            if row.errors:
                problems.append(f"{row.errors} errors")
        elif row.connections > REFERENCE_CONNECTIONS:
            problems = [f"{row.errors} errors"] if row.errors else []
            base = at16.get(row.endpoint)
            if base and base.rps:
                ratio = row.rps / base.rps
                row.notes.append(f"{ratio:.0%} of the rps at {REFERENCE_CONNECTIONS}")
                if ratio < OVERLOAD_RPS_SHARE:
                    problems.append(f"throughput {ratio:.0%} of the {REFERENCE_CONNECTIONS}-connection level")
        elif row.cls == "login" and row.connections not in LOGIN_TARGET_CONNECTIONS:
            row.verdict = ""
            continue
        else:
            problems = _meets_latency(row)
            if row.cls == "login" and bcrypt_cpu_ms:  # what the check alone leaves of the p50 target
                row.notes.append(f"one bcrypt check alone: {bcrypt_cpu_ms:.0f} ms of CPU")
        row.verdict = "FAIL: " + "; ".join(problems) if problems else "pass"
    for row in rows:
        stolen = stolen_share(row, cores)
        if stolen >= STOLEN_NOTE_SHARE:
            row.notes.append(f"the host stole {stolen:.0%} of the cores' time")


def format_table(rows: list[Row]) -> str:
    """The one table the benchmark prints."""
    header = (
        f"{'endpoint':<16} {'class':<8} {'conn':>4} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'errors':>6}  {'target p50/p95/p99':<18} verdict"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        target = "/".join(f"{t:.0f}" for t in TARGETS_MS[r.cls])
        verdict = r.verdict or "-"
        notes = f" ({'; '.join(r.notes)})" if r.notes else ""
        lines.append(
            f"{r.endpoint:<16} {r.cls:<8} {r.connections:>4} {r.rps:>8.1f} {r.p50_ms:>8.1f} {r.p95_ms:>8.1f} "
            f"{r.p99_ms:>8.1f} {r.errors:>6}  {target:<18} {verdict}{notes}"
        )
    return "\n".join(lines)


def format_cpu_table(rows: list[Row]) -> str:
    """Where each level's CPU went, per request: the API workers, PostgreSQL, Redis, wrk, the rest;
    then the time the host stole from the VM's cores (not in the total)."""
    columns = (*CPU_GROUPS, "total", "steal")
    header = f"{'endpoint':<16} {'conn':>4} " + " ".join(f"{group:>8}" for group in columns)
    lines = [header, "-" * len(header)]
    for r in rows:
        if r.cpu_ms:
            cells = " ".join(f"{r.cpu_ms.get(group, 0.0):>8.2f}" for group in columns)
            lines.append(f"{r.endpoint:<16} {r.connections:>4} {cells}")
    return "\n".join(lines)


def results_json(rows: Sequence[Row], machine: dict) -> str:
    """A run as ``bench/results/latest.json`` holds it: the machine once, then one row a line
    (short, and a diff between two runs reads row by row)."""
    lines = ",\n  ".join(json.dumps(row.to_json()) for row in rows)
    return f'{{\n "machine": {json.dumps(machine)},\n "rows": [\n  {lines}\n ]\n}}\n'


def login_ceiling(bcrypt: dict) -> float:
    """The ceiling login is judged against: the mean of the checks per second measured right
    before and after the login runs, else (no login run) the one measured at the start."""
    around = bcrypt.get("around_login_per_s") or [bcrypt.get("all_cores_per_s", 0.0)]
    return sum(around) / len(around)
