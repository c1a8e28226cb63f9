"""Sessions that real clients survive: the refresh reuse grace, and logout's scopes (issue 26)."""

from __future__ import annotations

import pytest
from test_auth import API, actions, assert_error, me, refresh, registered

from models import RefreshToken, Session
from services import auth
from tests.concurrency import at_once


def test_a_token_rotated_moments_ago_gets_the_same_replacement_and_the_session_lives(client):
    first = registered(client)["tokens"]
    second = refresh(client, first["refreshToken"]).json()["tokens"]
    again = refresh(client, first["refreshToken"])
    assert again.status_code == 200, again.text
    assert again.json()["tokens"]["refreshToken"] == second["refreshToken"]
    assert again.json()["tokens"]["accessToken"] != first["accessToken"]
    assert me(client, again.json()["tokens"]).status_code == 200
    assert Session.get().revoked_at is None
    assert RefreshToken.select().count() == 2  # no second replacement was made


def test_two_refreshes_of_one_token_at_once_both_succeed_with_the_same_token(client):
    first = registered(client)["tokens"]
    results = [tokens.refresh_token for tokens in at_once(2, lambda: auth.refresh(first["refreshToken"]))]
    assert len(results) == 2
    assert results[0] == results[1]
    assert Session.get().revoked_at is None


def test_a_third_use_after_the_grace_revokes(client, clock):
    first = registered(client)["tokens"]
    refresh(client, first["refreshToken"])
    assert refresh(client, first["refreshToken"]).status_code == 200  # inside the grace
    clock.advance(seconds=11)
    assert_error(refresh(client, first["refreshToken"]), 401, "UNAUTHORIZED")
    assert Session.get().revoked_at is not None
    assert "auth.token_reuse_detected" in actions()


def test_a_token_two_rotations_old_revokes_even_inside_the_grace(client):
    first = registered(client)["tokens"]
    second = refresh(client, first["refreshToken"]).json()["tokens"]
    refresh(client, second["refreshToken"])
    assert_error(refresh(client, first["refreshToken"]), 401, "UNAUTHORIZED")
    assert Session.get().revoked_at is not None


def test_a_grace_of_zero_is_reuse_detection_at_once(client, reconfigure):
    reconfigure(refresh_reuse_grace_seconds=0)
    first = registered(client)["tokens"]
    refresh(client, first["refreshToken"])
    assert_error(refresh(client, first["refreshToken"]), 401, "UNAUTHORIZED")
    assert Session.get().revoked_at is not None


# Logout scopes --------------------------------------------------------------------------------


def three_sessions(client) -> list[dict]:
    first = registered(client)["tokens"]
    others = [
        client.post(f"{API}/auth/login", json={"email": "ann@example.com", "password": "Granite-Path-42"})
        for _ in range(2)
    ]
    return [first, *(response.json()["tokens"] for response in others)]


def logout(client, tokens: dict, body=None):
    headers = {"Authorization": f"Bearer {tokens['accessToken']}"}
    return client.post(f"{API}/auth/logout", headers=headers, **({"json": body} if body is not None else {}))


@pytest.mark.parametrize(
    ("body", "alive", "action", "clears_cookie"),
    [
        (None, [False, True, True], "auth.logout", True),
        ({}, [False, True, True], "auth.logout", True),
        ({"scope": "local"}, [False, True, True], "auth.logout", True),
        ({"scope": "others"}, [True, False, False], "auth.logout_others", False),
        ({"scope": "global"}, [False, False, False], "auth.logout_global", True),
    ],
)
def test_each_logout_scope_ends_exactly_the_sessions_it_names(client, body, alive, action, clears_cookie):
    sessions = three_sessions(client)
    response = logout(client, sessions[0], body)
    assert response.status_code == 204, response.text
    assert [me(client, tokens).status_code == 200 for tokens in sessions] == alive
    assert [refresh(client, tokens["refreshToken"]).status_code == 200 for tokens in sessions] == alive
    assert action in actions()
    assert ("set-cookie" in response.headers) == clears_cookie


@pytest.mark.parametrize("body", [{"scope": "everything"}, {"scope": None}, {"scope": "LOCAL"}, {"all": True}])
def test_an_unknown_scope_is_a_validation_error_and_ends_nothing(client, body):
    sessions = three_sessions(client)
    error = assert_error(logout(client, sessions[0], body), 400, "VALIDATION_ERROR")
    assert error["details"][0]["field"].startswith("body")
    assert all(me(client, tokens).status_code == 200 for tokens in sessions)
