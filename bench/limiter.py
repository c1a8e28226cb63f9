"""CPU per request of the rate limiter's Redis store, then and now.

    python -m bench.limiter [--redis-url redis://127.0.0.1:6379/10] [--requests 4000]

"then": the ``limits`` library's moving window on its blocking Redis client, run in a worker
thread (``hit`` then ``get_window_stats``), as the rate limiter did before;
"now": ``web.ratelimit.RedisWindows``, one Lua script on an asyncio client on the event loop.
Both spend the general budget of 200 users from 16 concurrent requests on uvloop, as a server
worker would. The keys it writes expire after a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import uvloop
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool

from web.ratelimit import RedisWindows

LIMIT = parse("10000000/minute")
CONCURRENCY = 16
USERS = 200


async def measure(spend: Callable[[str], Awaitable[object]], requests: int) -> tuple[float, float]:
    """CPU and wall microseconds per request."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with gate:
            await spend(f"user:{i % USERS}")

    await one(0)  # connect, load the script
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(requests)))
    return (time.process_time() - cpu) / requests * 1e6, (time.perf_counter() - wall) / requests * 1e6


def limits_in_a_thread(redis_url: str, prefix: str) -> Callable[[str], Awaitable[object]]:
    strategy = MovingWindowRateLimiter(storage_from_string(redis_url))

    def hit_then_stats(who: str) -> object:
        strategy.hit(LIMIT, prefix, who)
        return strategy.get_window_stats(LIMIT, prefix, who)

    return lambda who: run_in_threadpool(hit_then_stats, who)


def one_script(redis_url: str, prefix: str) -> Callable[[str], Awaitable[object]]:
    store = RedisWindows(redis_url)
    return lambda who: store.spend([(LIMIT, f"{prefix}:{who}")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    uvloop.install()
    for name, store in (
        ("then: limits, blocking client, thread", limits_in_a_thread),
        ("now: one Lua script, asyncio", one_script),
    ):
        cpu, wall = asyncio.run(measure(store(args.redis_url, f"bench-limiter-{uuid.uuid4().hex}"), args.requests))
        print(f"{name:<40} {cpu:7.0f} µs CPU per request  {wall:7.0f} µs wall")


if __name__ == "__main__":
    main()
