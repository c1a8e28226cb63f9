"""Rate limits on ``/api/v1``, shared by every process through Redis (in memory without it).

Two budgets, each one rate in the ``limits`` notation ("100/minute"):

- ``RATE_LIMIT_DEFAULT`` for every ``/api/v1`` request, per user id when the bearer token's
  signature verifies (no database lookup: a revoked token still names its user), else per
  client IP;
- ``RATE_LIMIT_AUTH`` per client IP and per operation on the unauthenticated operations worth
  brute-forcing (``AUTH_OPERATIONS``): login and register do not share a budget.

Strategy: a moving window. "10 a minute" then means at most 10 in any 60 seconds; a fixed
window lets twice the budget through across a window boundary, which doubles the password
guesses a login limit allows.

Stores. On Redis, a request's budgets are spent by one Lua script (``MOVING_WINDOW_LUA``) on an
asyncio client, on the event loop: for each window it drops the timestamps that left it, records
the hit if there is room and returns what the headers need; one round trip and one atomic step
per request, on Redis's clock (API hosts with skewed clocks still share one window). The
``limits`` library's Redis strategy needs two scripts per budget (hit, then the window's stats)
on a blocking client, i.e. a thread hand-off as well: 0.78-0.95 ms of CPU per request against
0.20 ms for the script (``python -m bench.limiter``). Without Redis the budgets live in process memory, counted
by ``limits``' memory strategy (no I/O).

Two ASGI middlewares share the work. ``RateLimitMiddleware`` sits after routing
(``MiddlewarePosition.BEFORE_SECURITY``) because it needs the operation; it spends the
budgets, raises 429 ``RATE_LIMITED`` (rendered by the error handlers), and leaves the
``RateLimit-*`` values in ``scope["state"]``. ``RateLimitHeadersMiddleware`` sits outside
Connexion's exception middleware (``BEFORE_EXCEPTION``), so those headers reach error
responses (401, 400, 404, 429) as well as successes.

If the store fails (Redis down or slow: short socket timeouts), requests pass unlimited and a
warning is logged; the limiter then leaves the store alone for ``FAIL_OPEN_SECONDS``, so an
outage costs at most one time-out per process per period instead of one per request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import Settings
from core.tokens import TokenExpired, TokenInvalid, decode_access_token
from web.errors import ApiError
from web.requests import client_ip, operation_of

log = logging.getLogger("cairn.ratelimit")

API_PREFIX = "/api/v1/"
# The docs UI and the spec are served under the API prefix but are not the API.
UNLIMITED_PREFIXES = ("/api/v1/ui", "/api/v1/openapi.json", "/api/v1/openapi.yaml")
AUTH_OPERATIONS = frozenset(
    {
        "register",
        "login",
        "forgot_password",
        "reset_password",
        "verify_email",
        "confirm_email_change",
        "revert_email_change",
        "change_email",  # it checks a password and sends mail to any address the caller names
    }
)
FAIL_OPEN_SECONDS = 5.0
REDIS_TIMEOUT_SECONDS = 0.5
STATE_KEY = "rate_limit_headers"

# KEYS: one window per budget, each a list of hit times (seconds, newest first).
# ARGV: limit and window seconds of each, in turn. Returns, for each budget spent, {1 if this hit
# is allowed else 0, hits in its window, whole seconds until the oldest of them leaves it},
# stopping after the first refusal. A refused hit is not recorded, so a client that keeps
# hammering is let back in as soon as its oldest counted hit ages out.
MOVING_WINDOW_LUA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local spent = {}
for i, key in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  while true do
    local last = redis.call('LINDEX', key, -1)
    if not last or tonumber(last) > now - window then break end
    redis.call('RPOP', key)
  end
  local count = redis.call('LLEN', key)
  local allowed = 0
  if count < limit then
    redis.call('LPUSH', key, string.format('%.6f', now))
    redis.call('EXPIRE', key, math.ceil(window))
    count, allowed = count + 1, 1
  end
  local oldest = tonumber(redis.call('LINDEX', key, -1) or now)
  table.insert(spent, {allowed, count, math.ceil(oldest + window - now)})
  if allowed == 0 then break end
end
return spent
"""


def is_limited_path(path: str) -> bool:
    return path.startswith(API_PREFIX) and not path.startswith(UNLIMITED_PREFIXES)


@dataclass(frozen=True)
class Budget:
    """One limit's state after this request: what the ``RateLimit-*`` headers report."""

    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds from now until the window frees a slot

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


def tightest(budgets: list[Budget]) -> Budget:
    """The budget the headers show: a refused one, else the one with the fewest requests left."""
    return min(budgets, key=lambda b: (b.allowed, b.remaining, -b.reset))


class StoreUnavailable(Exception):
    """The store could not be asked (connection refused, time-out, any Redis error)."""


Window = tuple[RateLimitItem, str]  # a limit and the key of its window


class WindowStore(Protocol):
    async def spend(self, windows: list[Window]) -> list[Budget]:
        """Spend one request from each window in turn, stopping after the first refusal;
        raises StoreUnavailable."""


class MemoryWindows:
    """This process's memory: for a single process without Redis (development, tests)."""

    def __init__(self) -> None:
        self.strategy = MovingWindowRateLimiter(MemoryStorage())

    async def spend(self, windows: list[Window]) -> list[Budget]:
        budgets = []
        for item, key in windows:
            allowed = self.strategy.hit(item, key)
            stats = self.strategy.get_window_stats(item, key)
            reset = max(0, math.ceil(stats.reset_time - time.time()))
            budgets.append(Budget(allowed, item.amount, max(0, stats.remaining), reset))
            if not allowed:
                break
        return budgets


class RedisWindows:
    """Windows shared by every process through Redis: one ``MOVING_WINDOW_LUA`` call per request."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._loop: asyncio.AbstractEventLoop | None = None
        self._script: AsyncScript | None = None

    def _script_on_this_loop(self) -> AsyncScript:
        # An asyncio client belongs to the loop it was first used on. A server has one loop
        # per process; tests start one per client, so a new loop gets a new client.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            client = redis.asyncio.Redis.from_url(
                self.url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
            )
            self._loop, self._script = loop, client.register_script(MOVING_WINDOW_LUA)
        return self._script

    async def spend(self, windows: list[Window]) -> list[Budget]:
        args = [value for item, _ in windows for value in (item.amount, item.get_expiry())]
        try:
            spent = await self._script_on_this_loop()(keys=[key for _, key in windows], args=args)
        except (TimeoutError, RedisError, OSError) as exc:
            raise StoreUnavailable(exc) from exc
        return [
            Budget(bool(allowed), item.amount, max(0, item.amount - count), reset)
            for (item, _), (allowed, count, reset) in zip(windows, spent, strict=False)
        ]


def open_store(redis_url: str) -> WindowStore:
    """Redis when configured, else process memory."""
    return RedisWindows(redis_url) if redis_url else MemoryWindows()


class RateLimiter:
    """The two budgets over one store; ``spend`` returns None when the store is unreachable."""

    def __init__(self, store: WindowStore, default: str, auth: str, prefix: str) -> None:
        self.default: RateLimitItem = parse(default)
        self.auth: RateLimitItem = parse(auth)
        self.prefix = prefix
        self.store = store
        self._resume_at = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        return cls(
            open_store(settings.redis_url),
            settings.rate_limit_default,
            settings.rate_limit_auth,
            settings.rate_limit_prefix,
        )

    async def spend(self, caller: str, ip: str, operation: str | None) -> list[Budget] | None:
        """Spend this request from each budget that applies; a refusal stops further spending."""
        if time.monotonic() < self._resume_at:
            return None
        windows = [self._window(self.default, "api", caller)]
        if operation in AUTH_OPERATIONS:
            windows.append(self._window(self.auth, operation, f"ip:{ip}"))
        try:
            return await self.store.spend(windows)
        except StoreUnavailable as exc:
            self._fail_open(exc.__cause__)
            return None

    def _window(self, item: RateLimitItem, bucket: str, who: str) -> Window:
        # The limit is part of the key: a changed setting starts new windows instead of misreading old ones.
        return item, f"{self.prefix}:{bucket}:{who}:{item.amount}/{item.get_expiry()}"

    def _fail_open(self, error: BaseException | None) -> None:
        if time.monotonic() < self._resume_at:  # another request on this loop got here first
            return
        self._resume_at = time.monotonic() + FAIL_OPEN_SECONDS
        log.warning(
            "rate limit store unreachable, not limiting for %.0f s: %s",
            FAIL_OPEN_SECONDS,
            type(error).__name__,
            extra={"error": str(error)[:200]},
        )


def spec_operation_id(scope: Scope) -> str | None:
    """The spec's operationId: the router holds the resolved name (``handlers.auth.login``)."""
    resolved = operation_of(scope)
    return resolved.rsplit(".", 1)[-1] if resolved else None


def caller_key(scope: Scope, ip: str) -> str:
    """``user:<id>`` for a bearer token whose signature verifies, else ``ip:<address>``."""
    scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        try:
            return f"user:{decode_access_token(token.strip()).user_id}"
        except (TokenExpired, TokenInvalid):
            pass
    return f"ip:{ip}"


class RateLimitMiddleware:
    """Spends the budgets of each ``/api/v1`` request; 429 ``RATE_LIMITED`` when one is used up."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, trusted_proxies: tuple = ()) -> None:
        self.app = app
        self.limiter = limiter
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_limited_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        ip = state.get("client_ip") or client_ip(scope, self.trusted_proxies)
        budgets = await self.limiter.spend(caller_key(scope, ip), ip, spec_operation_id(scope))
        if budgets:
            shown = tightest(budgets)
            state[STATE_KEY] = shown.headers()
            if not shown.allowed:
                retry_after = {"Retry-After": str(max(1, shown.reset))}
                raise ApiError("RATE_LIMITED", "Too many requests", headers={**shown.headers(), **retry_after})
        await self.app(scope, receive, send)


class RateLimitHeadersMiddleware:
    """Adds the ``RateLimit-*`` headers left by RateLimitMiddleware to whatever response is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                values = scope.get("state", {}).get(STATE_KEY)
                if values:
                    message.setdefault("headers", [])
                    MutableHeaders(scope=message).update(values)
            await send(message)

        await self.app(scope, receive, send_with_headers)
