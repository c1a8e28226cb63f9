"""Security headers on every response, errors included.

The outermost middleware (outside even the server-error one), so nothing the stack answers
escapes it. JSON and the other API answers get a policy that allows nothing; the Swagger UI
pages under ``/api/v1/ui`` get one that lets exactly that page work: its own scripts plus the
hash of each inline ``<script>`` in the page actually sent.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.requests import peer_is_trusted

DOCS_PREFIX = "/api/v1/ui"
NO_STORE_PREFIXES = ("/api/v1/auth/", "/api/v1/users/me/")
NO_STORE_PATHS = ("/api/v1/users/me",)
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000; includeSubDomains"
INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\ssrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def docs_csp(script_hashes: list[str]) -> str:
    scripts = " ".join(["'self'", *(f"'sha256-{digest}'" for digest in script_hashes)])
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {scripts}",
            # Swagger UI's page has an inline <style> and the bundle sets inline styles at run
            # time (swagger-api/swagger-ui#10655); styles cannot run code.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",  # swagger-ui.css draws its icons as data: SVGs
            "connect-src 'self'",  # the spec, and "Try it out"
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def inline_script_hashes(html: bytes) -> list[str]:
    """CSP hashes of the page's inline scripts (the exact text between the tags)."""
    return [base64.b64encode(hashlib.sha256(body).digest()).decode() for body in INLINE_SCRIPT.findall(html)]


def came_over_https(scope: Scope, trusted_proxies: tuple) -> bool:
    """HTTPS to this server, or to a trusted proxy that says so in X-Forwarded-Proto."""
    if scope.get("scheme") == "https":
        return True
    if not peer_is_trusted(scope, trusted_proxies):
        return False
    forwarded = Headers(scope=scope).get("x-forwarded-proto", "")
    return forwarded.split(",")[0].strip().lower() == "https"


def is_no_store(path: str) -> bool:
    return path in NO_STORE_PATHS or path.startswith(NO_STORE_PREFIXES)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, trusted_proxies: tuple = ()) -> None:
        self.app = app
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        common = self._common_headers(scope)
        if scope["path"].startswith(DOCS_PREFIX):
            await self.app(scope, receive, _DocsSender(send, common))
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                MutableHeaders(scope=message).update({**common, "Content-Security-Policy": API_CSP})
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _common_headers(self, scope: Scope) -> dict[str, str]:
        headers = dict(ALWAYS)
        if came_over_https(scope, self.trusted_proxies):
            headers["Strict-Transport-Security"] = HSTS
        if is_no_store(scope["path"]):
            headers["Cache-Control"] = "no-store"
        return headers


class _DocsSender:
    """Holds back an HTML page's start message until its body is known, to hash its inline scripts."""

    def __init__(self, send: Send, common: dict[str, str]) -> None:
        self.send = send
        self.common = common
        self.start: Message | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if "text/html" in Headers(raw=message.get("headers", [])).get("content-type", ""):
                self.start = message
                return
            await self.send(self._with_headers(message, []))
            return
        if self.start is None or message["type"] != "http.response.body":
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(self.chunks)
        await self.send(self._with_headers(self.start, inline_script_hashes(body)))
        await self.send({"type": "http.response.body", "body": body, "more_body": False})

    def _with_headers(self, message: Message, script_hashes: list[str]) -> Message:
        message.setdefault("headers", [])
        MutableHeaders(scope=message).update({**self.common, "Content-Security-Policy": docs_csp(script_hashes)})
        return message
