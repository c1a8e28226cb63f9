"""Operations tagged `admin` — PLACEHOLDER so the app starts while the real module is written.

Every function answers 500 until implemented; replace this whole file."""

from core.errors import ApiError


def list_audit_logs(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def get_queues(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")
