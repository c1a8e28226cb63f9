"""Security headers: on every response (errors and the last-resort 500 included), the strict CSP
on the API and a working one for the docs UI, HSTS only over HTTPS, no-store on auth answers."""

from __future__ import annotations

import base64
import hashlib
import re
from ipaddress import ip_network

import pytest
from variants import build_app

from web.headers import API_CSP

API = "/api/v1"
ALWAYS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer"}
PROXY = ("10.0.0.1", 40000)
TRUSTED = (ip_network("10.0.0.0/8"),)


def assert_security_headers(response, csp: str | None = API_CSP) -> None:
    for name, value in ALWAYS.items():
        assert response.headers.get(name) == value, (name, response.status_code, dict(response.headers))
    if csp is not None:
        assert response.headers["content-security-policy"] == csp


def directives(policy: str) -> dict[str, list[str]]:
    parsed = [part.split() for part in policy.split(";") if part.strip()]
    return {words[0]: words[1:] for words in parsed}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("get", "/health", {}, 200),
        ("get", "/metrics", {}, 200),
        ("get", "/nope", {}, 404),
        ("delete", "/health", {}, 405),
        ("post", f"{API}/auth/login", {"json": {}}, 400),
        ("get", f"{API}/projects", {}, 401),
        ("post", f"{API}/projects", {"content": b"x" * (1024 * 1024 + 1)}, 413),
        ("post", f"{API}/auth/login", {"content": b"{}", "headers": {"Content-Type": "text/plain"}}, 415),
        ("options", f"{API}/projects", {}, 405),
    ],
)
def test_every_response_carries_the_security_headers(client, method, path, kwargs, status):
    response = client.request(method.upper(), path, **kwargs)
    assert response.status_code == status
    assert_security_headers(response)


def test_a_handler_crash_carries_them(client, monkeypatch):
    from services import health

    monkeypatch.setattr(health, "readiness", lambda: 1 / 0)
    response = client.get("/health/ready")
    assert response.status_code == 500
    assert_security_headers(response)


def test_the_last_resort_500_carries_them(app, clean_db, monkeypatch):
    from web import requests as request_context

    monkeypatch.setattr(request_context, "client_ip", lambda *_a, **_k: 1 / 0)
    with app.test_client(raise_server_exceptions=False) as client:
        response = client.get("/health")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"
    assert_security_headers(response)


def test_a_429_carries_them(settings):
    app = build_app(settings, rate_limit_auth="1/minute")
    with app.test_client() as client:
        client.post(f"{API}/auth/login", json={})
        response = client.post(f"{API}/auth/login", json={})
    assert response.status_code == 429
    assert_security_headers(response)
    assert response.headers["cache-control"] == "no-store"


# -- the docs UI ---------------------------------------------------------------------------


def inline(tag: str, html: str) -> list[str]:
    return re.findall(rf"<{tag}(?![^>]*\ssrc=)[^>]*>(.*?)</{tag}>", html, re.DOTALL)


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@pytest.mark.parametrize("page", ["ui/", "ui/oauth2-redirect.html"])
def test_the_docs_pages_get_a_policy_that_lets_exactly_their_scripts_run(client, page):
    response = client.get(f"{API}/{page}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert int(response.headers["content-length"]) == len(response.content)  # the page is passed on intact
    assert_security_headers(response, csp=None)
    policy = directives(response.headers["content-security-policy"])
    scripts = inline("script", response.text)
    assert scripts, "the page has inline scripts: the hashes are what lets them run"
    assert set(policy["script-src"]) == {"'self'", *map(sha256, scripts)}
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    # every other resource the page loads is same-origin ('self')
    for url in re.findall(r'(?:src|href)="([^"]+)"', response.text):
        assert not re.match(r"^[a-z]+:|^//", url), url


def test_the_docs_policy_allows_what_swagger_ui_needs(client):
    page = client.get(f"{API}/ui/")
    policy = directives(page.headers["content-security-policy"])
    assert inline("style", page.text), "the page has an inline <style>"
    assert "'unsafe-inline'" in policy["style-src"]
    assert "SwaggerUIBundle(" in page.text
    assert re.search(r'url: "/api/v1/openapi.json"', page.text)
    assert "'self'" in policy["connect-src"]  # fetching the spec, and "Try it out"
    css = client.get(f"{API}/ui/swagger-ui.css")
    assert 'url("data:image/svg+xml' in css.text or "url(data:image" in css.text
    assert policy["img-src"] == ["'self'", "data:"]
    assert directives(css.headers["content-security-policy"])["script-src"] == ["'self'"]
    bundle = client.get(f"{API}/ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert int(bundle.headers["content-length"]) == len(bundle.content) > 100_000


# -- HSTS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def behind_proxy(settings):
    return build_app(settings, trusted_proxies=TRUSTED)


def test_no_hsts_over_plain_http(client):
    assert "strict-transport-security" not in client.get("/health").headers


def test_hsts_over_https(app, clean_db):
    with app.test_client(base_url="https://testserver") as client:
        for path in ("/health", "/nope", f"{API}/projects"):
            assert client.get(path).headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


@pytest.mark.parametrize(
    ("peer", "proto", "expected"),
    [
        (PROXY, "https", True),
        (PROXY, "HTTPS, http", True),
        (PROXY, "http", False),
        (("192.0.2.9", 5000), "https", False),  # anyone may send the header: only a trusted proxy counts
    ],
)
def test_hsts_behind_a_proxy_only_when_a_trusted_one_says_https(behind_proxy, peer, proto, expected):
    with behind_proxy.test_client(client=peer) as client:
        response = client.get("/health", headers={"X-Forwarded-Proto": proto})
    assert ("strict-transport-security" in response.headers) is expected


# -- Cache-Control -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("post", f"{API}/auth/login", {"json": {"email": "nobody@example.com", "password": "x"}}),
        ("post", f"{API}/auth/register", {"json": {}}),
        ("post", f"{API}/auth/refresh", {"json": {"refreshToken": "unknown"}}),
        ("post", f"{API}/auth/forgot-password", {"json": {"email": "nobody@example.com"}}),
        ("post", f"{API}/auth/logout", {}),
        ("get", f"{API}/users/me", {}),
        ("get", f"{API}/users/me/sessions", {}),
        ("post", f"{API}/users/me/password", {"json": {}}),
    ],
)
def test_auth_and_account_answers_are_never_stored(client, method, path, kwargs):
    response = client.request(method.upper(), path, **kwargs)
    assert response.status_code < 500
    assert response.headers["cache-control"] == "no-store"


def test_a_successful_login_and_profile_are_never_stored(client, accounts):
    user = accounts.create(email="ann@example.com", password="Granite-Path-42")
    login = client.post(f"{API}/auth/login", json={"email": "ann@example.com", "password": "Granite-Path-42"})
    assert login.status_code == 200
    assert login.headers["cache-control"] == "no-store"
    me = client.get(f"{API}/users/me", headers=accounts.headers_for(user))
    assert (me.status_code, me.headers["cache-control"]) == (200, "no-store")


@pytest.mark.parametrize("path", ["/health", f"{API}/projects", f"{API}/users/meow"])
def test_other_answers_keep_their_own_caching(client, path):
    assert "cache-control" not in client.get(path).headers
