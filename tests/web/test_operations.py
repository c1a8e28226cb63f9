"""web.operations: each handler runs on a request thread, on its own connection, after the session check."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import uuid
from unittest.mock import patch

import pytest

import app as app_module
from core.errors import Conflict, DomainError
from models.db import db
from tests.variants import build_app
from web import operations
from web.errors import code_of
from web.operations import RequestThreadResolver, run_handler

request_id = contextvars.ContextVar("request_id", default=None)


def seen_on_thread(value: int) -> dict:
    return {"value": value, "thread": threading.current_thread().name, "request": request_id.get()}


def test_the_handler_runs_on_a_request_thread_and_sees_the_requests_context(app):
    resolver = RequestThreadResolver(threads=2)
    operation = resolver.resolve_function_from_operation_id(f"{__name__}.seen_on_thread")

    async def call() -> dict:
        request_id.set("r-1")
        with patch.object(operations, "connexion_context", {}):  # a public operation: no token_info
            return await operation(value=7)

    seen = asyncio.run(call())
    assert seen["value"] == 7
    assert seen["thread"].startswith("request")
    assert seen["request"] == "r-1"
    # Connexion reads the handler's parameters through __wrapped__.
    assert operation.__wrapped__ is seen_on_thread
    resolver.executor.shutdown()


@pytest.mark.parametrize("threads", [1, 4])
def test_the_app_sizes_its_request_thread_pool_from_request_threads(settings, monkeypatch, threads):
    made: list[RequestThreadResolver] = []

    class Recording(RequestThreadResolver):
        def __init__(self, threads: int) -> None:
            super().__init__(threads)
            made.append(self)

    monkeypatch.setattr(app_module, "RequestThreadResolver", Recording)
    build_app(settings, request_threads=threads)
    assert [resolver.executor._max_workers for resolver in made] == [threads]


def test_the_connection_goes_back_even_when_the_handler_fails(app):
    def failing() -> None:
        assert not db.is_closed()
        raise Conflict("no")

    with pytest.raises(DomainError):
        run_handler(failing, {}, None)
    assert db.is_closed()


def test_a_dead_session_stops_the_request_before_the_handler(app):
    ran: list[bool] = []
    token_info = {"sub": str(uuid.uuid4()), "sid": str(uuid.uuid4()), "role": None}

    with pytest.raises(DomainError) as refused:
        run_handler(lambda: ran.append(True), {}, token_info)
    assert (code_of(refused.value), ran, db.is_closed()) == ("UNAUTHORIZED", [], True)
