"""Builds the Cairn application: settings → database → Connexion app → middleware → error handlers.

Serve it with ``make api`` (gunicorn + uvicorn workers) or ``make run``; tests call
``create_app(settings)`` to get their own.
"""

from __future__ import annotations

import core  # isort: skip  # noqa: F401 - first: its warning filter must be in place before Connexion loads
import json
import re
from functools import partial
from pathlib import Path

import yaml
from connexion import AsyncApp
from connexion.jsonifier import Jsonifier
from connexion.middleware import ConnexionMiddleware, MiddlewarePosition
from connexion.middleware.server_error import ServerErrorMiddleware
from connexion.options import SwaggerUIOptions

from celery_app import create_celery
from core.config import Settings, load_settings, use_settings
from core.logs import configure_logging
from store.database import init_db
from web.body import RequestBodyMiddleware
from web.cors import CorsMiddleware, cors_options
from web.errors import handle, register_error_handlers
from web.head import RequestHeadMiddleware
from web.headers import SecurityHeadersMiddleware
from web.metrics import MetricsMiddleware, route_templates
from web.operations import RequestThreadResolver
from web.ratelimit import RateLimiter, RateLimitHeadersMiddleware, RateLimitMiddleware
from web.requests import RequestContextMiddleware
from web.scope import Serving, SettingsMiddleware
from web.specdoc import SpecDocumentsMiddleware, documents
from web.validation import VALIDATOR_MAP

SPEC_DIR = Path(__file__).parent / "openapi"
SPEC_FILE = "openapi.yaml"
SPEC_JSON_PATH = "/api/v1/openapi.json"  # and its .yaml twin
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def load_spec() -> dict:
    return yaml.safe_load((SPEC_DIR / SPEC_FILE).read_text())


def _with_head(methods: list[str]) -> list[str]:
    """Starlette serves HEAD wherever GET is served, so the Allow header names it too."""
    return sorted([*methods, "HEAD"]) if "GET" in methods else methods


def methods_by_path(spec: dict) -> callable:
    """A lookup from a concrete path to the methods the spec allows on it (for 405 Allow)."""
    table = [
        (
            re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", path) + "$"),
            _with_head(sorted(m.upper() for m in item if m in HTTP_METHODS)),
        )
        for path, item in spec["paths"].items()
    ]

    def lookup(path: str) -> list[str]:
        return next((methods for pattern, methods in table if pattern.match(path)), [])

    return lookup


def _add_security_middleware(app: AsyncApp, settings: Settings) -> None:
    """CORS and the rate-limit headers inside the request context (ids, access log) and outside the
    error handlers (so errors get them); the limiter itself after routing, where the operation is known."""
    if settings.cors_origins:
        app.add_middleware(
            CorsMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION, **cors_options(settings.cors_origins)
        )
    app.add_middleware(RateLimitHeadersMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(
        RateLimitMiddleware,
        position=MiddlewarePosition.BEFORE_SECURITY,
        limiter=RateLimiter.from_settings(settings),
        trusted_proxies=settings.trusted_proxies,
    )


def create_app(settings: Settings | None = None) -> AsyncApp:
    """Build the ASGI app. Fails loudly (at lifespan start-up) if an operationId does not resolve."""
    settings = use_settings((settings or load_settings()).check())
    configure_logging(settings.log_level)
    init_db(
        settings.database_url,
        pool_size=settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout,
        statement_timeout_ms=settings.db_statement_timeout_ms,
    )
    create_celery(settings)
    spec = load_spec()
    serving = Serving(settings)

    app = AsyncApp(
        __name__,
        specification_dir=str(SPEC_DIR),
        # Compact bodies: Connexion's default (indent=2) forces json's pure-Python encoder,
        # which was a third of a 20-project list's CPU; without indent the C encoder runs.
        jsonifier=Jsonifier(json, separators=(",", ":")),
        middlewares=[
            # Outermost: everything a request runs reads this app's settings, not another app's.
            partial(SettingsMiddleware, serving=serving),
            # Then, so that even the last-resort 500 carries the security headers.
            partial(SecurityHeadersMiddleware, trusted_proxies=settings.trusted_proxies),
            partial(ServerErrorMiddleware, handler=handle),
            *ConnexionMiddleware.default_middlewares[1:],
        ],
    )
    app.add_api(
        SPEC_FILE,
        strict_validation=True,
        validate_responses=settings.validate_responses,
        validator_map=VALIDATOR_MAP,
        # Handlers run on REQUEST_THREADS threads, each with its own connection (web/operations.py).
        resolver=RequestThreadResolver(settings.request_threads),
        # The UI reads SPEC_JSON_PATH; SpecDocumentsMiddleware serves it (and its .yaml twin) as written,
        # where Connexion would serve a re-resolved, $ref-less copy rebuilt on every request.
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/api/v1/ui", spec_path=SPEC_JSON_PATH, serve_spec=False),
    )
    app.add_middleware(
        SpecDocumentsMiddleware,
        position=MiddlewarePosition.BEFORE_SWAGGER,
        documents=documents(SPEC_DIR / SPEC_FILE, SPEC_JSON_PATH),
    )
    app.add_middleware(RequestBodyMiddleware, position=MiddlewarePosition.BEFORE_ROUTING)
    app.add_middleware(RequestHeadMiddleware, position=MiddlewarePosition.BEFORE_ROUTING)
    app.add_middleware(
        RequestContextMiddleware,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        trusted_proxies=settings.trusted_proxies,
    )
    # Inside the request context, outside the exception handlers: counts errors with their final status.
    app.add_middleware(MetricsMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION, routes=route_templates(spec))
    _add_security_middleware(app, settings)
    register_error_handlers(app, methods_by_path(spec))
    app.serving = serving
    return app
