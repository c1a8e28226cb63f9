"""Where an operation's handler runs: on one of the worker's request threads, with its own connection.

Handlers are synchronous (peewee is), so each runs on a thread from a pool of ``REQUEST_THREADS``
per worker, never on the event loop; requests past them wait on the loop, where waiting costs
nothing. On that thread, before the handler, the request borrows a database connection and the
bearer's session is checked on it (``web.auth.check_session``); afterwards the connection always
goes back (to the pool on PostgreSQL). So a request holds at most one connection, and the pool is
sized to the threads.

The pool is ours rather than Connexion's default for synchronous handlers (Starlette's
``run_in_threadpool``): anyio's thread hand-off cost 0.06-0.43 ms more CPU a detail or list request
than ``run_in_executor`` (three paired rounds), and its limit (40 threads) is process-wide, not tied
to the connection pool.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from connexion.context import context as connexion_context
from connexion.resolver import Resolver
from connexion.utils import get_function_from_name

from models.db import db
from web.auth import check_session


def run_handler(handler: Callable[..., Any], kwargs: dict[str, Any], token_info: dict | None) -> Any:
    """Call ``handler`` on this thread's own connection, after the bearer's session check (if any)."""
    db.connect(reuse_if_open=True)
    try:
        if token_info:
            check_session(token_info)
        return handler(**kwargs)
    finally:
        if not db.is_closed():
            db.close()


def on_request_thread(handler: Callable[..., Any], executor: ThreadPoolExecutor) -> Callable[..., Any]:
    """An ``async`` operation that runs ``handler`` on ``executor`` (Connexion awaits it on the loop).

    ``functools.wraps`` keeps ``__wrapped__``, through which Connexion reads the handler's parameters.
    """

    @functools.wraps(handler)
    async def operation(**kwargs: Any) -> Any:
        token_info = connexion_context.get("token_info")  # what the bearer check left; None if public
        # The thread sees the request's context variables (request id, user, Connexion's context).
        call = functools.partial(contextvars.copy_context().run, run_handler, handler, kwargs, token_info)
        return await asyncio.get_running_loop().run_in_executor(executor, call)

    return operation


class RequestThreadResolver(Resolver):
    """Resolves each operationId to its handler, run on this resolver's pool of ``threads`` threads."""

    def __init__(self, threads: int) -> None:
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="request")
        super().__init__(self._on_request_thread)

    def _on_request_thread(self, operation_id: str) -> Callable[..., Any]:
        return on_request_thread(get_function_from_name(operation_id), self.executor)
