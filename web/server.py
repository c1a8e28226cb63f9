"""The gunicorn worker class for production serving."""

from typing import ClassVar

from uvicorn_worker import UvicornWorker


class LifespanUvicornWorker(UvicornWorker):
    """Lifespan "on": a start-up failure (an unresolvable operationId) kills the worker, loudly."""

    CONFIG_KWARGS: ClassVar[dict] = {**UvicornWorker.CONFIG_KWARGS, "lifespan": "on", "proxy_headers": False}
