"""Opaque, tamper-evident list cursors: a JSON payload and its HMAC (``derived_token``), both base64url.

The payload says where a walk stopped and what it was walking (owner, sort, filters), so a
cursor cannot be edited, moved to another list or made to show another user's rows.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Any

from core.tokens import derived_token


class CursorInvalid(ValueError):
    """Not a cursor this server made, or altered since."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(body: str) -> str:
    return derived_token("cursor", body)


def encode(payload: dict[str, Any]) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_signature(body)}"


def decode(cursor: str) -> dict[str, Any]:
    """The payload of a cursor this server made; raises CursorInvalid otherwise."""
    body, _, signature = cursor.partition(".")
    if not hmac.compare_digest(signature.encode(), _signature(body).encode()):
        raise CursorInvalid("is not a cursor this list made, or was altered")
    try:
        payload = json.loads(_unb64(body))
    except (binascii.Error, ValueError):
        raise CursorInvalid("is not a cursor this list made, or was altered") from None
    if not isinstance(payload, dict):
        raise CursorInvalid("is not a cursor this list made, or was altered")
    return payload
