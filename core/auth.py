"""Bearer authentication for Connexion's security middleware (``x-bearerInfoFunc``)."""

from __future__ import annotations


def bearer_info(token: str) -> dict | None:  # noqa: ARG001
    """Placeholder until the authentication issue lands: no token is accepted."""
    return None
