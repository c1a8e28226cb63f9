"""Bugs the contract work found, pinned on both backends (see the fuzzing for the rest)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.contract

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/auth/register", rb'{"email": "ann@example.com", "password": "Passw0rd\ud800", "name": "Ann"}'),
        ("/api/v1/auth/login", rb'{"email": "ann@example.com", "password": "\udfff"}'),
        ("/api/v1/projects", rb'{"name": "Summit", "description": "north \udc00 ridge"}'),
        ("/api/v1/projects", rb'{"name": "Summit", "\ud800": 1}'),
    ],
)
def test_an_unpaired_surrogate_escape_is_a_400_not_a_500(client, accounts, path, body):
    """`"\\ud800"` is valid JSON syntax but no character; it used to reach bcrypt and the drivers."""
    headers = {**JSON, **accounts.headers_for(accounts.create())}
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"][0]["field"] == "body"


def test_a_surrogate_pair_escape_is_an_ordinary_character(client, accounts):
    headers = {**JSON, **accounts.headers_for(accounts.create())}
    response = client.post("/api/v1/projects", content=rb'{"name": "Summit \ud83c\udfd4"}', headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Summit \N{SNOW CAPPED MOUNTAIN}"


@pytest.mark.parametrize("email", ["\u00fa@example.com", "ann@\u00e9xample.com", "a\u0093b@example.com", "a..b@x.io"])
def test_an_address_that_is_not_rfc_5321_is_refused(client, email):
    """The spec says `format: email`; the old pattern let non-ASCII and C1 controls in (and back out)."""
    body = {"email": email, "password": "Passw0rd-x", "name": "Ann"}
    response = client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"][0]["field"] == "body.email"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/v1/projects/abc%0A/milestones/x"),
        ("GET", "/api/v1/projects/6c0d8e2f-4a1b-4c3d-9e5f-7a8b9c0d1e2f%0A"),
        ("PATCH", "/api/v1/projects/%0A/milestones/%0A"),
        ("GET", "/api/v1/openapi.json%0A"),
    ],
)
def test_an_encoded_newline_in_the_path_is_a_404_not_a_500(client, accounts, method, path):
    """Found when the app was a FlaskApp: Flask's rules took such a path that Connexion's router had not
    matched, and the view crashed. The AsyncApp dispatches by the routed operation; keep it a 404."""
    response = client.request(method, path, headers=accounts.headers_for(accounts.create()))
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "NOT_FOUND"
