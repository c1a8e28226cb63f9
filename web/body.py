"""Request bodies before routing: at most 1 MiB, buffered, and typed.

Nothing else in the stack limits body size, so this middleware reads the body
(refusing it past the limit, chunked or not), then replays it with an exact
``Content-Length`` (Connexion treats a chunked body as missing). A body sent
without any ``Content-Type`` gets 415 rather than reaching a handler as bytes.
Both errors go through the JSON error handlers (Starlette HTTPException).

The ``Content-Type`` is rewritten in canonical form (RFC 9110: the type is
case-insensitive, whitespace may surround the parameters): Connexion compares it
case-insensitively for its 415 but looks the body schema up case-sensitively, so
``Application/JSON`` would otherwise reach a handler unvalidated.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1024 * 1024


def canonical_media_type(value: str) -> str:
    """``Application/JSON ; Charset=UTF-8`` → ``application/json;charset=UTF-8``: type, subtype and
    parameter names lower-cased, the whitespace around them dropped (parameter values kept as given)."""
    media_type, *parameters = value.split(";")
    canonical = [media_type.strip().lower()]
    for parameter in parameters:
        name, sep, given = parameter.partition("=")
        if name.strip():
            canonical.append(name.strip().lower() + sep + given.strip())
    return ";".join(canonical)


class RequestBodyMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise HTTPException(413)
        body = await self._read(receive)
        if body and "content-type" not in headers:
            raise HTTPException(415)
        rewritten = MutableHeaders(scope=scope)
        rewritten["content-length"] = str(len(body))
        if "content-type" in headers:
            rewritten["content-type"] = canonical_media_type(headers["content-type"])
        await self.app(scope, self._replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise HTTPException(413)
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    @staticmethod
    def _replay(body: bytes, receive: Receive) -> Receive:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay
