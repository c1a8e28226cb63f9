"""Operations tagged ``auth``: thin translations between HTTP and ``services.auth``.

Login, register and refresh also set the refresh token as the HTTP-only cookie
``cairn_refresh`` (path ``/api/v1/auth``, so it only travels to these operations);
logout clears it.
"""

from __future__ import annotations

from typing import Any

from connexion import request
from werkzeug.http import dump_cookie

from core.config import get_settings
from handlers.presenters import user_json
from services import auth

REFRESH_COOKIE = "cairn_refresh"
COOKIE_PATH = "/api/v1/auth"
FORGOT_MESSAGE = "If an account exists for this email, a password reset link has been sent."
RESEND_MESSAGE = "If the email address is not verified yet, a verification link has been sent."

Reply = tuple[Any, int, dict[str, str]]


def _cookie(value: str, max_age: int) -> str:
    return dump_cookie(
        REFRESH_COOKIE,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=get_settings().app_env != "development",
        httponly=True,
        samesite="Strict",
    )


def _with_cookie(tokens: auth.Tokens) -> dict[str, str]:
    """The refresh cookie lives as long as the session it belongs to."""
    remaining = int((tokens.session_expires_at - auth.clock()).total_seconds())
    return {"Set-Cookie": _cookie(tokens.refresh_token, max(remaining, 0))}


def _tokens_json(tokens: auth.Tokens) -> dict[str, Any]:
    return {
        "accessToken": tokens.access_token,
        "refreshToken": tokens.refresh_token,
        "tokenType": "Bearer",
        "expiresIn": tokens.expires_in,
    }


def register(body: dict) -> Reply:
    """Create an account and start its first session."""
    user, tokens = auth.register(body["email"], body["password"], body["name"])
    return {"user": user_json(user), "tokens": _tokens_json(tokens)}, 201, _with_cookie(tokens)


def login(body: dict) -> Reply:
    """Start a session."""
    user, tokens = auth.login(body["email"], body["password"])
    return {"user": user_json(user), "tokens": _tokens_json(tokens)}, 200, _with_cookie(tokens)


def refresh(body: dict | None = None) -> Reply:
    """Rotate the refresh token from the body, else from the cookie."""
    token = (body or {}).get("refreshToken") or request.cookies.get(REFRESH_COOKIE)
    tokens = auth.refresh(token)
    return {"tokens": _tokens_json(tokens)}, 200, _with_cookie(tokens)


def logout(user: str, token_info: dict, body: dict | None = None) -> Reply:
    """End this session, the others or all; clear the cookie unless this session stays."""
    scope = (body or {}).get("scope", "local")
    auth.logout(user, token_info["sid"], scope)
    return None, 204, {} if scope == "others" else {"Set-Cookie": _cookie("", 0)}


def forgot_password(body: dict) -> Reply:
    """Always the same 202, whether or not the account exists."""
    auth.forgot_password(body["email"])
    return {"message": FORGOT_MESSAGE}, 202, {}


def reset_password(body: dict) -> Reply:
    auth.reset_password(body["token"], body["password"])
    return None, 204, {}


def verify_email(body: dict) -> Reply:
    user = auth.verify_email(body["token"])
    return user_json(user), 200, {}


def confirm_email_change(body: dict) -> Reply:
    """Every session but the one that asked for the change ends."""
    return user_json(auth.confirm_email_change(body["token"])), 200, {}


def revert_email_change(body: dict) -> Reply:
    """Every session ends."""
    return user_json(auth.revert_email_change(body["token"])), 200, {}


def resend_verification(user: str) -> Reply:
    auth.resend_verification(user)
    return {"message": RESEND_MESSAGE}, 202, {}
