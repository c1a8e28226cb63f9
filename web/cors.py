"""CORS for the origins in ``CORS_ORIGINS`` only, with credentials.

Starlette's CORSMiddleware, placed before routing (``MiddlewarePosition.BEFORE_EXCEPTION``) so a
preflight is answered before the router could 405 it, with two changes:

- a request from an unlisted origin gets no CORS header at all (Starlette would still send
  ``Allow-Credentials`` and ``Expose-Headers``), and its preflight is not answered here: it
  reaches the router like any ``OPTIONS``, whose answer is the documented 405 envelope with
  ``Allow`` — and no ``Access-Control-Allow-*``, so the browser refuses;
- a preflight that asks for a method or header we do not allow is refused the same way,
  instead of Starlette's ``text/plain`` 400; an accepted one is a bodiless 204.

``*`` never reaches here: the settings refuse it (credentials make it unsafe).
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOWED_METHODS = ("GET", "POST", "PATCH", "DELETE")
ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-Request-ID", "Idempotency-Key", "If-Match", "If-None-Match")
EXPOSED_HEADERS = (
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
    "X-Request-ID",
    "Location",
    "Idempotent-Replayed",
    "ETag",
)
PREFLIGHT_MAX_AGE = 600


def cors_options(origins: tuple[str, ...]) -> dict:
    """The keyword arguments for ``app.add_middleware(CorsMiddleware, ...)``."""
    return {
        "allow_origins": origins,
        "allow_methods": ALLOWED_METHODS,
        "allow_headers": ALLOWED_HEADERS,
        "allow_credentials": True,
        "expose_headers": EXPOSED_HEADERS,
        "max_age": PREFLIGHT_MAX_AGE,
    }


def is_preflight(scope: Scope, headers: Headers) -> bool:
    return scope["method"] == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers


class CorsMiddleware(CORSMiddleware):
    def __init__(self, app: ASGIApp, **options: object) -> None:
        if "*" in options.get("allow_origins", ()):
            raise ValueError("CORS with credentials must list its origins, never '*'")
        super().__init__(app, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None or not self.is_allowed_origin(origin):
            await self.app(scope, receive, _vary_on_origin(send) if origin else send)
            return
        if is_preflight(scope, headers):
            answer = self.preflight_response(request_headers=headers)
            if answer.status_code == 200:
                await Response(status_code=204, headers=_without_body_headers(answer))(scope, receive, send)
                return
            await self.app(scope, receive, _vary_on_origin(send))
            return
        await self.simple_response(scope, receive, send, request_headers=headers)


def _without_body_headers(response: Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in ("content-type", "content-length")}


def _vary_on_origin(send: Send) -> Send:
    """The answer depends on Origin even when it carries no CORS header (shared caches)."""

    async def send_with_vary(message: Message) -> None:
        if message["type"] == "http.response.start":
            message.setdefault("headers", [])
            MutableHeaders(scope=message).add_vary_header("Origin")
        await send(message)

    return send_with_vary
