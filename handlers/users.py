"""Operations tagged `users` — PLACEHOLDER so the app starts while the real module is written.

Every function answers 500 until implemented; replace this whole file."""

from core.errors import ApiError


def get_me(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def update_me(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def delete_me(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def change_password(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def list_sessions(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def revoke_session(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def list_my_audit_logs(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")
