"""CORS: only the origins in CORS_ORIGINS, with credentials; preflights answered before routing;
everything else (unlisted origins, refused preflights, plain OPTIONS) gets the documented 405."""

from __future__ import annotations

import pytest
from variants import build_app

from app import HTTP_METHODS, load_spec
from core.config import ConfigError, load_settings
from web.cors import CorsMiddleware

API = "/api/v1"
ALLOWED = "https://app.example.com"
OTHER = "http://localhost:5173"
EVIL = "https://evil.example.com"
EXPOSED = {
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
    "X-Request-ID",
    "Location",
    "Idempotent-Replayed",
    "ETag",
}


@pytest.fixture(scope="module")
def cors_client(settings):
    app = build_app(settings, cors_origins=(ALLOWED, OTHER), rate_limit_auth="2/minute")
    with app.test_client() as client:
        yield client


def preflight(client, origin: str, method: str = "POST", headers: str | None = "content-type, authorization"):
    request_headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        request_headers["Access-Control-Request-Headers"] = headers
    return client.options(f"{API}/projects", headers=request_headers)


def cors_headers(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def assert_method_not_allowed(response) -> None:
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert response.headers["allow"] == "GET, HEAD, POST"


@pytest.mark.parametrize("origin", [ALLOWED, OTHER])
def test_a_preflight_from_a_listed_origin_is_allowed(cors_client, origin):
    response = preflight(cors_client, origin)
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == origin  # never "*": credentials are allowed
    assert response.headers["access-control-allow-credentials"] == "true"
    assert set(response.headers["access-control-allow-methods"].split(", ")) == {"GET", "POST", "PATCH", "DELETE"}
    assert {"Authorization", "Content-Type"} <= set(response.headers["access-control-allow-headers"].split(", "))
    assert response.headers["access-control-max-age"] == "600"
    assert "Origin" in response.headers["vary"]
    assert response.headers["x-request-id"]


def test_a_browser_may_send_an_idempotency_key(cors_client):
    response = preflight(cors_client, ALLOWED, headers="content-type, authorization, idempotency-key")
    assert response.status_code == 204
    assert "Idempotency-Key" in response.headers["access-control-allow-headers"].split(", ")


def test_a_preflight_for_a_conditional_request_is_allowed(cors_client):
    """If-Match and If-None-Match are not CORS-safelisted: a browser asks before sending them."""
    response = preflight(cors_client, ALLOWED, "PATCH", "authorization, content-type, if-match, if-none-match")
    assert response.status_code == 204
    assert {"If-Match", "If-None-Match"} <= set(response.headers["access-control-allow-headers"].split(", "))


@pytest.mark.parametrize(
    ("origin", "method", "headers"),
    [
        (EVIL, "POST", "content-type"),
        ("https://app.example.com.evil.com", "GET", None),
        ("null", "GET", None),
        (ALLOWED, "PUT", None),  # a method no operation has
        (ALLOWED, "POST", "x-evil"),  # a header we do not accept
    ],
    ids=["unlisted", "suffix-trick", "null-origin", "method", "header"],
)
def test_a_refused_preflight_gets_no_cors_headers_and_the_405_envelope(cors_client, origin, method, headers):
    response = preflight(cors_client, origin, method, headers)
    assert_method_not_allowed(response)
    assert cors_headers(response) == {}
    assert "Origin" in response.headers["vary"]


def test_plain_options_is_the_documented_405(cors_client):
    assert_method_not_allowed(cors_client.options(f"{API}/projects"))


def test_a_listed_origin_may_read_answers_errors_included(cors_client):
    response = cors_client.get(f"{API}/projects", headers={"Origin": ALLOWED})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert response.headers["access-control-allow-credentials"] == "true"
    exposed = set(response.headers["access-control-expose-headers"].split(", "))
    assert exposed == EXPOSED
    assert "Origin" in response.headers["vary"]


def test_a_listed_origin_can_read_a_429(cors_client):
    for _ in range(2):
        cors_client.post(f"{API}/auth/login", json={}, headers={"Origin": ALLOWED})
    response = cors_client.post(f"{API}/auth/login", json={}, headers={"Origin": ALLOWED})
    assert response.status_code == 429
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "Retry-After" in response.headers["access-control-expose-headers"]


def test_an_unlisted_origin_gets_no_cors_headers(cors_client):
    response = cors_client.get("/health", headers={"Origin": EVIL})
    assert response.status_code == 200
    assert cors_headers(response) == {}
    assert "Origin" in response.headers["vary"]


def test_without_cors_origins_no_origin_is_allowed(client):
    # the session app runs without CORS_ORIGINS
    response = client.options(f"{API}/projects", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"})
    assert_method_not_allowed(response)
    assert cors_headers(response) == {}
    assert cors_headers(client.get("/health", headers={"Origin": ALLOWED})) == {}


@pytest.mark.parametrize("value", ["*", "https://app.example.com,*", "https://app.example.com/", "app.example.com"])
def test_wildcards_and_malformed_origins_are_refused_at_start_up(value):
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        load_settings({"CORS_ORIGINS": value})


def test_the_middleware_itself_refuses_a_wildcard():
    with pytest.raises(ValueError, match=r"never '\*'"):
        CorsMiddleware(app=None, allow_origins=["*"], allow_credentials=True)


def test_the_contract_has_no_options_operations_and_every_path_documents_405():
    # schemathesis sends only documented methods; OPTIONS stays the undocumented-method 405.
    for path, item in load_spec()["paths"].items():
        operations = {m: op for m, op in item.items() if m in HTTP_METHODS}
        assert "options" not in operations, path
        for method, op in operations.items():
            assert "405" in op["responses"], (method, path)
