"""The benchmark's harness pieces (the benchmark itself is ``make bench``, too heavy for CI)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from bench.harness import (
    CPU_GROUPS,
    Row,
    WrkOutputError,
    WrkResult,
    cpu_per_request,
    format_cpu_table,
    format_table,
    judge,
    level_order,
    lua_value,
    merge_cpu,
    merge_runs,
    parse_wrk_output,
    refresh_script,
    requests_script,
    results_json,
    wait_until_idle,
)
from bench.profile import FRAMEWORK, category, parse_raw, summarise

WRK_STDOUT = """Running 10s test @ http://127.0.0.1:8099
  16 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    40.12ms   12.00ms 210.00ms   80.00%
  4000 requests in 10.00s, 4.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:    400.00
BENCH_RESULT {"requests": 4000, "duration_us": 10000000, "p50_us": 38000, "p95_us": 61000, "p99_us": 90500, \
"max_us": 210000, "status_errors": 3, "socket_errors": 2}
"""


def test_wrk_output_is_parsed_from_the_result_line():
    result = parse_wrk_output(WRK_STDOUT)
    assert result.rps == 400
    assert (result.p50_ms, result.p95_ms, result.p99_ms, result.max_ms) == (38, 61, 90.5, 210)
    assert result.errors == 5  # non-2xx plus socket errors


def test_wrk_output_without_a_result_line_is_an_error():
    with pytest.raises(WrkOutputError):
        parse_wrk_output("unable to connect to 127.0.0.1:8099 Connection refused\n")


def test_lua_data_files():
    assert lua_value({"a": [1, 'x"y', None, True]}) == '{["a"] = {1, "x\\"y", false, true}}'
    script = requests_script([("GET", "/api/v1/projects", "tok", None), ("POST", "/p", "t", '{"n": 1}')])
    assert script.startswith("return {")
    assert '"mode"] = "requests"' in script
    assert '"{\\"n\\": 1}"' in script
    assert '"tokens"] = {"r1", "r2"}' in refresh_script("/api/v1/auth/refresh", ["r1", "r2"])
    with pytest.raises(ValueError, match="non-ASCII"):
        lua_value("é")
    with pytest.raises(ValueError, match="at least one request"):
        requests_script([])


def row(endpoint: str, cls: str, connections: int, rps: float, p50: float, errors: int = 0) -> Row:
    return Row(endpoint, cls, connections, rps, p50, p50 * 1.5, p50 * 2, errors)


def test_verdicts_follow_the_issue_targets():
    rows = [
        row("detail", "detail", 16, 400, 30),
        row("detail", "detail", 64, 390, 120),  # 97 % of the 16-connection throughput: holds
        row("list", "list", 16, 300, 120),  # p50 over 100 ms
        row("list", "list", 64, 200, 300),  # collapsed
        row("update", "write", 64, 500, 100, errors=1),
        row("login", "login", 1, 13, 75),
        row("login", "login", 16, 25, 600),  # latency is not judged at 16, the ceiling share is
        row("login", "login", 64, 26, 2400),
    ]
    judge(rows, bcrypt_ceiling=27.0)
    verdicts = {(r.endpoint, r.connections): r.verdict for r in rows}
    assert verdicts[("detail", 16)] == "pass"
    assert verdicts[("detail", 64)] == "pass"
    assert verdicts[("list", 16)].startswith("FAIL")
    assert "p50 120 ms > 100" in verdicts[("list", 16)]
    assert "throughput 67%" in verdicts[("list", 64)]
    assert "1 errors" in verdicts[("update", 64)]
    assert verdicts[("login", 1)] == "pass"
    assert verdicts[("login", 16)] == "pass"
    assert "93% of the bcrypt ceiling" in rows[6].notes[0]
    assert verdicts[("login", 64)] == "pass"
    table = format_table(rows)
    assert "detail" in table.splitlines()[2]
    assert "50/100/200" in table
    assert rows[0].to_json()["class"] == "detail"
    assert rows[0].to_json()["target_p99_ms"] == 200


def test_login_rows_say_what_one_bcrypt_check_costs_on_this_machine():
    rows = [row("login", "login", 1, 9, 107), row("login", "login", 16, 17, 900)]
    rows[1].api_cpu_ms = 115.0
    judge(rows, bcrypt_ceiling=21.3, bcrypt_cpu_ms=98.4)
    assert rows[0].verdict == "FAIL: p50 107 ms > 100"
    assert rows[0].notes == ["one bcrypt check alone: 98 ms of CPU"]
    assert "(one bcrypt check alone: 98 ms of CPU)" in format_table(rows)
    assert rows[1].notes == ["80% of the bcrypt ceiling (21.3/s)", "bcrypt is 86% of a login's API CPU"]


def test_rows_that_lost_a_tenth_of_the_cores_to_the_host_say_so_and_keep_their_verdict():
    slow, calm = row("detail", "detail", 16, 300, 60), row("list", "list", 16, 300, 40)
    slow.cpu_ms, calm.cpu_ms = {"steal": 2.0}, {"steal": 0.5}  # ms a request: 30 % and 7.5 % of 2 cores
    judge([slow, calm], bcrypt_ceiling=30.0, cores=2)
    assert slow.verdict == "FAIL: p50 60 ms > 50"
    assert slow.notes == ["the host stole 30% of the cores' time"]
    assert calm.notes == []
    assert calm.verdict == "pass"


def test_profile_summary_attributes_samples_to_the_nearest_category():
    raw = [
        "<module> (gunicorn:6);Runner.run (asyncio/runners.py:118);bearer_info (core/auth.py:50);"
        "PyJWT.decode (jwt/api_jwt.py:200) 3",
        "<module> (gunicorn:6);get_project (services/projects.py:10);Database.execute_sql (peewee.py:3300) 5",
        "<module> (gunicorn:6);RateLimitMiddleware.__call__ (core/ratelimit.py:170);"
        "Router.app (starlette/routing.py:700) 2",
    ]
    stacks = parse_raw(raw)
    assert sum(stacks.values()) == 10
    assert [category(stack) for stack in stacks] == [
        "auth (JWT, bcrypt, session check)",
        "database (peewee, psycopg2, pool)",
        FRAMEWORK,  # a middleware frame around the framework's work is not the middleware's cost
    ]
    text = summarise(Counter(stacks))
    assert "50.0 %  database" in text
    assert "Database.execute_sql (peewee.py)" in text


def test_cpu_per_request_splits_the_machine_busy_time_by_process_group():
    before = {
        "api": 10.0,
        "wrk": 0.5,
        "machine": 100.0,
        "steal": 4.0,
        "processes": {7: ("postgres", 5.0), 8: ("redis", 1.0), 9: ("postgres", 50.0)},
    }
    after = {
        "api": 12.0,
        "wrk": 0.6,
        "machine": 103.0,
        "steal": 4.5,
        # 9 ended (its work before is not counted again), 10 started (all of its work is new)
        "processes": {7: ("postgres", 5.3), 8: ("redis", 1.1), 10: ("postgres", 0.2)},
    }
    spent = cpu_per_request(before, after, requests=1000)
    assert spent == {"api": 2.0, "postgres": 0.5, "redis": 0.1, "wrk": 0.1, "other": 0.3, "total": 3.0, "steal": 0.5}
    assert cpu_per_request(before, after, requests=0) == {}
    rows = [row("detail", "detail", 16, 400, 30)]
    rows[0].cpu_ms = spent
    table = format_cpu_table(rows)
    assert table.splitlines()[0].split() == ["endpoint", "conn", *CPU_GROUPS, "total", "steal"]
    assert table.splitlines()[2].split() == ["detail", "16", "2.00", "0.50", "0.10", "0.10", "0.30", "3.00", "0.50"]


def test_levels_being_compared_run_in_mirrored_order():
    assert level_order((1, 16, 64)) == [1, 16, 64, 64, 16]
    assert level_order((1, 2, 16, 64)) == [1, 2, 16, 64, 64, 16]
    assert level_order((1, 16, 64), repeats=1) == [1, 16, 64]
    assert level_order((16, 32, 64), repeats=3) == [16, 32, 64, 64, 32, 16, 16, 32, 64]


class FakeWorkers:
    """The API workers' CPU seconds so far: busy for ``busy_polls`` polls (a full core each), then quiet."""

    def __init__(self, busy_polls: int) -> None:
        self.busy_polls = busy_polls
        self.cpu = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if len(self.slept) <= self.busy_polls:
            self.cpu += seconds  # one core busy the whole poll
        else:
            self.cpu += 0.01 * seconds  # timers and heartbeats

    def cpu_seconds(self) -> float:
        return self.cpu


def test_a_run_starts_only_once_the_api_finished_the_last_runs_requests():
    workers = FakeWorkers(busy_polls=9)
    waited, idle = wait_until_idle(workers.cpu_seconds, workers.sleep, poll_s=0.25)
    assert idle
    assert waited == 2.5  # nine busy polls, then the first quiet one
    assert workers.slept == [0.25] * 10

    already_quiet = FakeWorkers(busy_polls=0)
    assert wait_until_idle(already_quiet.cpu_seconds, already_quiet.sleep, poll_s=0.25) == (0.25, True)

    never_quiet = FakeWorkers(busy_polls=10**6)
    assert wait_until_idle(never_quiet.cpu_seconds, never_quiet.sleep, poll_s=0.5, max_wait_s=3) == (3.0, False)


def test_repeated_runs_merge_into_total_throughput_and_the_worst_latency():
    first = WrkResult(requests=3000, duration_s=10, p50_ms=30, p95_ms=60, p99_ms=90, max_ms=120, errors=0)
    second = WrkResult(requests=4000, duration_s=10, p50_ms=25, p95_ms=70, p99_ms=80, max_ms=300, errors=2)
    merged = merge_runs([first, second])
    assert merged.rps == 350
    assert (merged.p50_ms, merged.p95_ms, merged.p99_ms, merged.max_ms, merged.errors) == (30, 70, 90, 300, 2)
    assert merge_cpu([(3000, {"api": 4.0, "total": 5.0}), (1000, {"api": 2.0, "total": 3.0})]) == {
        "api": 3.5,
        "total": 4.5,
    }
    assert merge_cpu([(0, {})]) == {}


def test_a_run_is_saved_with_its_machine_once_and_one_row_a_line():
    rows = [row("detail", "detail", 16, 400, 30), row("list", "list", 64, 300, 90)]
    text = results_json(rows, {"host": "vm", "bcrypt": {"cpu_ms_per_check": 57.0}})
    saved = json.loads(text)
    assert saved["machine"]["host"] == "vm"
    assert saved["rows"] == [r.to_json() for r in rows]
    assert len(text.splitlines()) == 5 + len(rows)  # {, machine, rows: [, one line a row, ], }
