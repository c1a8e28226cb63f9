"""Operations tagged `projects` — PLACEHOLDER so the app starts while the real module is written.

Every function answers 500 until implemented; replace this whole file."""

from core.errors import ApiError


def list_projects(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def create_project(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def get_project(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def update_project(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def delete_project(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")
