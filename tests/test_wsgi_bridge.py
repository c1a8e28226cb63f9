"""core.wsgi: Flask's response collected in its thread and sent whole, with what WSGI promises."""

from __future__ import annotations

import asyncio

import pytest
from variants import build_app

from core.wsgi import BufferedWSGIMiddleware, run_wsgi


class Closing(list):
    closed = False

    def close(self) -> None:
        self.closed = True


def test_status_headers_body_and_the_write_callable_in_order():
    body = Closing([b"b", b"c"])

    def app(environ, start_response):
        write = start_response("201 Created", [("Content-Type", "application/json"), ("X-Thing", " 1 ")])
        write(b"a")
        return body

    assert run_wsgi(app, {}) == (201, [(b"content-type", b"application/json"), (b"x-thing", b"1")], b"abc")
    assert body.closed


def test_an_error_in_the_app_propagates_after_closing_its_iterable():
    body = Closing()

    def app(environ, start_response):
        start_response("200 OK", [])
        return body

    def broken(environ, start_response):
        raise RuntimeError("view failed")

    with pytest.raises(RuntimeError, match="view failed"):
        run_wsgi(broken, {})
    run_wsgi(app, {})
    assert body.closed


def test_the_request_body_reaches_the_app_and_the_response_goes_out_in_two_messages():
    def echo(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["wsgi.input"].read(), environ["QUERY_STRING"].encode()]

    incoming = [
        {"type": "http.request", "body": b"he", "more_body": True},
        {"type": "http.request", "body": b"llo", "more_body": False},
    ]
    sent = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "query_string": b"q=1", "headers": []}
    scope["http_version"] = "1.1"
    asyncio.run(BufferedWSGIMiddleware(echo)(scope, receive, send))
    assert sent == [
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]},
        {"type": "http.response.body", "body": b"helloq=1"},
    ]


@pytest.mark.parametrize("threads", [1, 4])
def test_flask_runs_in_request_threads_threads_per_worker(settings, threads):
    bridge = build_app(settings, request_threads=threads)._middleware_app.asgi_app
    assert isinstance(bridge, BufferedWSGIMiddleware)
    assert bridge.executor._max_workers == threads
