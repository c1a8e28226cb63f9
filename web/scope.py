"""The serving app's settings for everything a request runs (outermost middleware).

``core.config.get_settings()`` reads them through a context variable that request threads
inherit, so two apps built with different settings serve side by side in one process.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from core.config import Settings, serve_with, stop_serving


@dataclass
class Serving:
    """The settings an app serves with (``app.serving``; tests hand a running app new ones)."""

    settings: Settings


class SettingsMiddleware:
    def __init__(self, app: ASGIApp, serving: Serving) -> None:
        self.app = app
        self.serving = serving

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = serve_with(self.serving.settings)
        try:
            await self.app(scope, receive, send)
        finally:
            stop_serving(token)
