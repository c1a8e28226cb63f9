"""Operations tagged `milestones` — PLACEHOLDER so the app starts while the real module is written.

Every function answers 500 until implemented; replace this whole file."""

from core.errors import ApiError


def list_milestones(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def create_milestone(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def get_milestone(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def update_milestone(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def delete_milestone(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")
