"""Two apps built with different settings serve side by side in one process (issue 30): each
request reads its own app's settings (web.scope), whatever the process's settings are."""

from __future__ import annotations

import uuid
from dataclasses import replace

import jwt

from core.config import get_settings, use_settings
from core.tokens import AUDIENCE, ISSUER

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/users/me"


def test_two_apps_with_different_secrets_and_graces_coexist(app, client, settings, accounts):
    from app import create_app

    other_settings = replace(
        settings,
        jwt_secret="another-secret-that-is-at-least-32-bytes-long",
        refresh_reuse_grace_seconds=0,
        rate_limit_prefix=f"test-{uuid.uuid4().hex}",
    )
    other = create_app(other_settings)
    use_settings(settings)  # the process's settings are the session's again; the other app keeps its own
    app.celery.set_default()
    user = accounts.create(email="twin@example.com", password="Passw0rd-Twin")
    with other.test_client() as other_client:
        credentials = {"email": user.email, "password": "Passw0rd-Twin"}
        mine = client.post(LOGIN, json=credentials).json()["tokens"]
        theirs = other_client.post(LOGIN, json=credentials).json()["tokens"]
        jwt.decode(
            theirs["accessToken"], other_settings.jwt_secret, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER
        )

        def me(http, tokens) -> int:
            return http.get(ME, headers={"Authorization": f"Bearer {tokens['accessToken']}"}).status_code

        assert (me(client, mine), me(client, theirs)) == (200, 401)
        assert (me(other_client, theirs), me(other_client, mine)) == (200, 401)

        # The other app has no reuse grace: a rotated token presented again revokes at once.
        rotated = other_client.post("/api/v1/auth/refresh", json={"refreshToken": theirs["refreshToken"]})
        assert rotated.status_code == 200
        reused = other_client.post("/api/v1/auth/refresh", json={"refreshToken": theirs["refreshToken"]})
        assert reused.status_code == 401
        # The session's app keeps its grace of 10 seconds.
        client.post("/api/v1/auth/refresh", json={"refreshToken": mine["refreshToken"]})
        assert client.post("/api/v1/auth/refresh", json={"refreshToken": mine["refreshToken"]}).status_code == 200
    assert get_settings() is settings
