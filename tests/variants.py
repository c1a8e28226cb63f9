"""Apps built like the session's but with a few settings changed (limits, CORS, proxies, threads).

Each app serves with its own settings (``web.scope``), but ``create_app`` also binds
process-wide state (the database proxy, the default Celery app, the process's settings for code
outside a request): only fields that touch none of that vary here, and the session's settings
are put back at once. ``tests/web/test_settings_scope.py`` runs two differently configured apps
side by side.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from core.config import Settings, use_settings

VARIABLE = {
    "cors_origins",
    "rate_limit_default",
    "rate_limit_auth",
    "rate_limit_prefix",
    "trusted_proxies",
    "request_threads",
}


def build_app(settings: Settings, **changes: object):
    """An app for ``settings`` with ``changes``; rate limits get a fresh key prefix."""
    from app import create_app

    assert set(changes) <= VARIABLE, f"only {sorted(VARIABLE)} may vary"
    changes.setdefault("rate_limit_prefix", f"test-{uuid.uuid4().hex}")
    try:
        return create_app(replace(settings, **changes))
    finally:
        use_settings(settings)
