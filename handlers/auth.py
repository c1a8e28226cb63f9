"""Operations tagged `auth` — PLACEHOLDER so the app starts while the real module is written.

Every function answers 500 until implemented; replace this whole file."""

from core.errors import ApiError


def register(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def login(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def refresh(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def logout(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def forgot_password(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def reset_password(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def verify_email(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")


def resend_verification(*args, **kwargs):
    raise ApiError("INTERNAL_ERROR", "not implemented yet")
