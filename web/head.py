"""The request head before routing: headers at most 32 KiB in all, and no trailing slash.

uvicorn (httptools) accepts headers of any size; past ``MAX_HEADER_BYTES`` this answers 431.
Starlette's router would redirect ``/api/v1/projects/`` to the path without its slash (a 307
with an absolute ``Location``, undocumented); every path in the spec is slash-free, so a
trailing slash is simply no such path: 404. Both go through the JSON error handlers.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_HEADER_BYTES = 32 * 1024


def header_bytes(scope: Scope) -> int:
    """The size of the request's headers as sent: each name, value, ``: `` and CRLF."""
    return sum(len(name) + len(value) + 4 for name, value in scope["headers"])


class RequestHeadMiddleware:
    def __init__(self, app: ASGIApp, max_header_bytes: int = MAX_HEADER_BYTES) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if header_bytes(scope) > self.max_header_bytes:
                raise HTTPException(431)
            if len(scope["path"]) > 1 and scope["path"].endswith("/"):
                raise HTTPException(404)
        await self.app(scope, receive, send)
