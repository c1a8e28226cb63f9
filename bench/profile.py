"""Summarise py-spy raw profiles (``python -m bench.profile [--requests N] var/bench/profile-detail-*.txt``).

``python -m bench.run --only detail --profile detail`` records every worker with py-spy while
the detail endpoint runs at 16 connections (``--format raw``: one ``frame;frame;… count`` line
per distinct stack, idle threads left out). This prints where the busy time went: by category
(see ``CATEGORIES``),
and the functions with the most self and total time.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

# A sample goes to the category of the frame nearest its leaf that matches one (so a query inside
# the auth check is database time, a JSON dump inside a response is JSON time). Wrapper frames
# (our middlewares' ``__call__``) only count when they are the leaf: their own work, not the app's.
CATEGORIES: tuple[tuple[str, re.Pattern, bool], ...] = (
    ("database (peewee, psycopg2, pool)", re.compile(r"peewee|playhouse|psycopg2"), False),
    (
        "auth (JWT, bcrypt, session check)",
        re.compile(r"[(/]jwt/|bcrypt|core/tokens\.py|core/passwords\.py|bearer_info|live_session"),
        False,
    ),
    ("rate limit (limits, redis)", re.compile(r"[(/](limits|redis)/|RateLimiter\.|caller_key"), False),
    ("logging", re.compile(r"[(/]logging/|core/logs\.py"), False),
    (
        "validation (request/response schemas)",
        re.compile(r"jsonschema|openapi_schema_validator|connexion/validators|(core|web)/validation\.py"),
        False,
    ),
    ("JSON (encode/decode)", re.compile(r"[(/]json/|json/provider|orjson"), False),
    ("metrics", re.compile(r"prometheus_client|record_pool_usage"), False),
    (
        "app code (handlers, services, models)",
        re.compile(r"/(handlers|services|store|models)/|core/formats\.py"),
        False,
    ),
    (
        "our middlewares (own work)",
        re.compile(r"(core|web)/(requests|headers|body|cors|metrics|ratelimit|errors)\.py"),
        True,
    ),
)
FRAMEWORK = "framework (connexion, starlette, uvicorn, asyncio)"
# Frames that only pass the request on: process start-up, event loop, thread bootstrap, and every
# middleware's __call__ (each wraps everything inside it, so their totals say nothing).
ENTRY_POINTS = re.compile(
    r"\((gunicorn|uvicorn_worker|threading\.py|concurrent/futures/thread\.py|asyncio/(runners|base_events|events)\.py"
    r"|uvicorn/(_compat|server|main)\.py)|^<module>|\.__call__ |^Router\.|^(Mount|Route)\.handle |run_asgi|wrapped_app"
)
FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")


def parse_raw(lines: Iterable[str]) -> Counter:
    """``{stack tuple (root first): samples}`` from py-spy's raw (collapsed) format."""
    stacks: Counter = Counter()
    for line in lines:
        line = line.rstrip("\n")
        if not line or " " not in line:
            continue
        stack, _, count = line.rpartition(" ")
        stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def short(frame: str) -> str:
    """``function (package/file.py)`` without the line number and the site-packages prefix."""
    match = FRAME.match(frame)
    if not match:
        return frame
    path = re.sub(r"^.*?(site-packages|lib/python3\.\d+|/work/main)/", "", match["file"])
    return f"{match['function']} ({path})"


def category(stack: tuple[str, ...]) -> str:
    for depth, frame in enumerate(reversed(stack)):
        for name, pattern, leaf_only in CATEGORIES:
            if (depth == 0 or not leaf_only) and pattern.search(frame):
                return name
    return FRAMEWORK


def summarise(stacks: Counter, top: int = 15, per_request_ms: float = 0.0) -> str:
    """The report; with ``per_request_ms`` (the CPU one sample stands for, divided by the requests
    served while recording) each category also shows its milliseconds of Python CPU per request."""
    total = sum(stacks.values())
    if not total:
        return "no samples"
    by_category: Counter = Counter()
    self_time: Counter = Counter()
    total_time: Counter = Counter()
    for stack, count in stacks.items():
        by_category[category(stack)] += count
        self_time[short(stack[-1])] += count
        for frame in {short(f) for f in stack}:
            total_time[frame] += count
    lines = [f"{total} samples (busy threads only)", "", "by category:"]
    if per_request_ms:
        lines[0] += f", {total * per_request_ms:.2f} ms of Python CPU per request"
    lines += [
        f"  {100 * n / total:5.1f} %  {name}" + (f"  ({n * per_request_ms:.2f} ms/request)" if per_request_ms else "")
        for name, n in by_category.most_common()
    ]
    lines += ["", f"top {top} by self time:"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in self_time.most_common(top)]
    lines += ["", f"top {top} by total time (server and thread entry points left out):"]
    inner = [(name, n) for name, n in total_time.most_common() if not ENTRY_POINTS.search(name)]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in inner[:top]]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="py-spy raw profiles (var/bench/profile-*.txt)")
    parser.add_argument("--requests", type=int, default=0, help="requests served while py-spy sampled them")
    parser.add_argument("--rate", type=float, default=200.0, help="py-spy's sampling rate, Hz (default 200)")
    options = parser.parse_args(argv)
    stacks: Counter = Counter()
    for path in options.files:
        stacks.update(parse_raw(path.read_text().splitlines()))
    per_request = 1000 / options.rate / options.requests if options.requests else 0.0
    print(summarise(stacks, per_request_ms=per_request))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
