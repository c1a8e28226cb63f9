"""Per-request context: the request id, the access log line, the client address.

Plain ASGI middleware, placed outside Connexion's exception middleware so that
error responses get the request id and are logged like any other.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from ipaddress import ip_address

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.logs import client_ip_var, request_id_var, user_agent_var, user_id_var

access_log = logging.getLogger("cairn.access")

MAX_USER_AGENT_CHARS = 512

REQUEST_ID_HEADER = "X-Request-ID"
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def incoming_request_id(headers: Headers) -> str:
    """Keep a well-formed incoming id (to correlate with the caller); replace anything else."""
    given = headers.get(REQUEST_ID_HEADER, "")
    return given if VALID_REQUEST_ID.match(given) else uuid.uuid4().hex


def operation_of(scope: Scope) -> str | None:
    """The operationId the router matched (None for unknown paths, docs and probes of them)."""
    return scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")


def client_ip(scope: Scope, trusted_proxies: tuple = ()) -> str:
    """The caller's address: the socket peer, or X-Forwarded-For's right-most untrusted hop
    when the peer is a trusted proxy (a forged header from anyone else changes nothing)."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not peer_is_trusted(scope, trusted_proxies):
        return peer
    forwarded = Headers(scope=scope).get("x-forwarded-for", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted_proxies):
            return hop if _is_ip(hop) else peer
    return hops[0] if hops and _is_ip(hops[0]) else peer


def peer_is_trusted(scope: Scope, trusted_proxies: tuple = ()) -> bool:
    """True when the socket peer is in TRUSTED_PROXIES, so its X-Forwarded-* headers count."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    return bool(trusted_proxies) and _is_trusted(peer, trusted_proxies)


def _is_ip(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted_proxies: tuple) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted_proxies)


class RequestContextMiddleware:
    """Assigns the request id, echoes it, and writes one access line per request."""

    def __init__(self, app: ASGIApp, trusted_proxies: tuple = ()) -> None:
        self.app = app
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = incoming_request_id(headers)
        ip = client_ip(scope, self.trusted_proxies)
        scope.setdefault("state", {}).update(request_id=request_id, client_ip=ip)
        tokens = [
            (request_id_var, request_id_var.set(request_id)),
            (user_id_var, user_id_var.set(None)),
            (client_ip_var, client_ip_var.set(ip)),
            (user_agent_var, user_agent_var.set(headers.get("user-agent", "")[:MAX_USER_AGENT_CHARS] or None)),
        ]
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "operation": operation_of(scope),
                    "status": status,
                    "duration": round((time.perf_counter() - started) * 1000, 2),
                    "ip": ip,
                },
            )
            for var, token in tokens:
                var.reset(token)
