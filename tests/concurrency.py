"""Calls that must race: each on its own thread and database connection, released together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def at_once(count: int, call: Callable[[], Any], timeout: float = 60) -> list[Any]:
    """What ``count`` simultaneous ``call()``s returned or raised, in no particular order."""
    from models import db

    db.close()  # each thread opens its own connection
    start, outcomes = threading.Barrier(count), []

    def attempt() -> None:
        start.wait()
        try:
            outcomes.append(call())
        except Exception as exc:  # the caller inspects what was raised
            outcomes.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=attempt) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return outcomes
