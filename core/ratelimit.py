"""Rate limits on ``/api/v1``, shared by every process through Redis (in memory without it).

Two budgets, both from the ``limits`` library:

- ``RATE_LIMIT_DEFAULT`` for every ``/api/v1`` request, per user id when the bearer token's
  signature verifies (no database lookup: a revoked token still names its user), else per
  client IP;
- ``RATE_LIMIT_AUTH`` per client IP and per operation on the unauthenticated operations worth
  brute-forcing (``AUTH_OPERATIONS``): login and register do not share a budget.

Strategy: a moving window. "10 a minute" then means at most 10 in any 60 seconds; a fixed
window lets twice the budget through across a window boundary, which doubles the password
guesses a login limit allows. Its cost is bounded: a Redis list of at most ``limit``
timestamps per key, one Lua script per hit and one per read of the window.

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

import logging
import math
import threading
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import Settings
from core.errors import ApiError
from core.requests import client_ip, operation_of
from core.tokens import TokenExpired, TokenInvalid, decode_access_token

log = logging.getLogger("cairn.ratelimit")

API_PREFIX = "/api/v1/"
# The docs UI and the spec are served under the API prefix but are not the API.
UNLIMITED_PREFIXES = ("/api/v1/ui", "/api/v1/openapi.json", "/api/v1/openapi.yaml")
AUTH_OPERATIONS = frozenset({"register", "login", "forgot_password", "reset_password", "verify_email"})
FAIL_OPEN_SECONDS = 5.0
REDIS_TIMEOUT_SECONDS = 0.5
STATE_KEY = "rate_limit_headers"


def is_limited_path(path: str) -> bool:
    return path.startswith(API_PREFIX) and not path.startswith(UNLIMITED_PREFIXES)


def open_storage(redis_url: str) -> Storage:
    """Redis when configured (short time-outs, errors wrapped as StorageError), else process memory."""
    if not redis_url:
        return storage_from_string("memory://")
    return storage_from_string(
        redis_url,
        wrap_exceptions=True,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )


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


class RateLimiter:
    """The two budgets over one store; ``spend`` returns None when the store is unreachable."""

    def __init__(self, storage: Storage, default: str, auth: str, prefix: str) -> None:
        self.default: RateLimitItem = parse(default)
        self.auth: RateLimitItem = parse(auth)
        self.prefix = prefix
        self.strategy = MovingWindowRateLimiter(storage)
        self._resume_at = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        return cls(
            open_storage(settings.redis_url),
            settings.rate_limit_default,
            settings.rate_limit_auth,
            settings.rate_limit_prefix,
        )

    def spend(self, caller: str, ip: str, operation: str | None) -> list[Budget] | None:
        """Spend this request from each budget that applies; a refusal stops further spending."""
        if time.monotonic() < self._resume_at:
            return None
        try:
            budgets = [self._hit(self.default, "api", caller)]
            if budgets[0].allowed and operation in AUTH_OPERATIONS:
                budgets.append(self._hit(self.auth, operation, f"ip:{ip}"))
        except StorageError as exc:
            self._fail_open(exc)
            return None
        return budgets

    def _hit(self, item: RateLimitItem, bucket: str, who: str) -> Budget:
        key = (self.prefix, bucket, who)
        allowed = self.strategy.hit(item, *key)
        stats = self.strategy.get_window_stats(item, *key)
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        return Budget(allowed=allowed, limit=item.amount, remaining=max(0, stats.remaining), reset=reset)

    def _fail_open(self, exc: StorageError) -> None:
        with self._lock:
            if time.monotonic() < self._resume_at:
                return
            self._resume_at = time.monotonic() + FAIL_OPEN_SECONDS
        log.warning(
            "rate limit store unreachable, not limiting for %.0f s: %s",
            FAIL_OPEN_SECONDS,
            type(exc.storage_error).__name__,
            extra={"error": str(exc.storage_error)[:200]},
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
        # In a worker thread: Redis round trips would otherwise stall every request on this event loop.
        budgets = await run_in_threadpool(self.limiter.spend, caller_key(scope, ip), ip, spec_operation_id(scope))
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
