"""Prometheus metrics (filled in by the performance issue)."""


def mark_process_dead(pid: int) -> None:
    """gunicorn's child_exit hook: forget a dead worker's multiprocess files."""
