"""Flask behind the event loop in one thread hand-off per request.

Connexion's FlaskApp runs Flask through a2wsgi's ``WSGIMiddleware``, which streams: the
worker thread reads the body from the loop chunk by chunk, and sends the response start and
every body chunk back through ``run_coroutine_threadsafe``, waiting each time. That is four or
more round trips between the thread and the loop per request, and they led the self-time
profile of the benchmark (``Condition.notify``, ``ThreadPoolExecutor.submit``,
``_chain_future``).

Every response of this API is one small JSON document (the docs UI and the spec are served by
ASGI middleware before Flask), so nothing is lost by buffering: the body is read on the loop
(``core.body`` has already buffered it), Flask runs in one hand-off, and the whole response
comes back at once. a2wsgi still provides the environ, the thread pool and the non-HTTP scopes.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import io
from typing import Any

from a2wsgi.wsgi import WSGIMiddleware, build_environ
from starlette.types import Receive, Scope, Send

Headers = list[tuple[bytes, bytes]]


class BufferedWSGIMiddleware(WSGIMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        environ = build_environ(scope, io.BytesIO(await _read_body(receive)))
        # Like a2wsgi: the thread sees the request's context variables (request id, user).
        call = functools.partial(contextvars.copy_context().run, run_wsgi, self.app, environ)
        status, headers, body = await asyncio.get_running_loop().run_in_executor(self.executor, call)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def run_wsgi(app: Any, environ: dict) -> tuple[int, Headers, bytes]:
    """Call a WSGI app and collect its whole response: status, headers (ASGI form) and body."""
    response: dict[str, Any] = {}
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is not None and response:  # PEP 3333: too late to change the status
            raise exc_info[1].with_traceback(exc_info[2])
        response["status"] = int(status.split(" ", 1)[0])
        response["headers"] = [(n.strip().lower().encode("latin1"), v.strip().encode("latin1")) for n, v in headers]
        return chunks.append  # the legacy write() callable

    iterable = app(environ, start_response)
    try:
        chunks.extend(iterable)
    finally:
        getattr(iterable, "close", lambda: None)()
    return response["status"], response["headers"], b"".join(chunks)
