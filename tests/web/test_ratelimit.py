"""Rate limits: the budgets, their keys and headers, what is not limited, sharing between
processes through Redis, and failing open when Redis dies.

In-process apps get small limits (``variants.build_app``); each test calls from its own
client address (X-Forwarded-For from a trusted proxy) or user, so budgets never leak between
tests. The process tests run real uvicorn servers on Redis: ``REDIS_URL`` when set (a fresh
key prefix), else a private ``redis-server`` this test starts (and fails without).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from ipaddress import ip_network

import conftest
import httpx
import pytest
from e2e.conftest import RedisServer, Service, free_port, http_ready
from limits import parse
from variants import build_app

from app import HTTP_METHODS, load_spec
from core.tokens import issue_access_token
from web import ratelimit
from web.ratelimit import Budget, MemoryWindows, RedisWindows, open_store, tightest

API = "/api/v1"
PROXY = ("10.0.0.1", 40000)  # a trusted proxy: its X-Forwarded-For names the caller
TRUSTED = (ip_network("10.0.0.0/8"),)
BAD_LOGIN = {"email": "not-an-email"}  # 400 from validation, after the limiter: no database needed
_addresses = itertools.count(1)


def new_ip() -> str:
    n = next(_addresses)
    return f"203.0.{n // 250}.{n % 250 + 1}"


def limit_headers(response) -> tuple[int, int, int]:
    return tuple(int(response.headers[f"ratelimit-{name}"]) for name in ("limit", "remaining", "reset"))


def assert_rate_limited(response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": {"code": "RATE_LIMITED", "message": "Too many requests"}}
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["ratelimit-remaining"] == "0"


@pytest.fixture(scope="module")
def auth_limited(settings):
    """Auth operations 3/minute per IP and operation; the general budget out of the way."""
    app = build_app(settings, rate_limit_default="50/minute", rate_limit_auth="3/minute", trusted_proxies=TRUSTED)
    with app.test_client(client=PROXY) as client:
        yield client


@pytest.fixture(scope="module")
def default_limited(settings):
    """The general budget 3/minute; the auth one out of the way."""
    app = build_app(settings, rate_limit_default="3/minute", rate_limit_auth="50/minute", trusted_proxies=TRUSTED)
    with app.test_client(client=PROXY) as client:
        yield client


def from_ip(ip: str, **headers: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip, **headers}


def bearer(user_id: str | None = None) -> str:
    """A correctly signed access token (its session need not exist: the limiter reads only the signature)."""
    return f"Bearer {issue_access_token(user_id or str(uuid.uuid4()), str(uuid.uuid4()))}"


def test_auth_operations_have_a_budget_per_ip_and_per_operation(auth_limited):
    ip = new_ip()
    for remaining in (2, 1, 0):
        response = auth_limited.post(f"{API}/auth/login", json=BAD_LOGIN, headers=from_ip(ip))
        assert response.status_code == 400
        limit, left, reset = limit_headers(response)
        assert (limit, left) == (3, remaining)
        assert 0 < reset <= 60
    assert_rate_limited(auth_limited.post(f"{API}/auth/login", json=BAD_LOGIN, headers=from_ip(ip)))
    # register has its own budget; another address has its own too
    other_operation = auth_limited.post(f"{API}/auth/register", json={}, headers=from_ip(ip))
    assert (other_operation.status_code, limit_headers(other_operation)[:2]) == (400, (3, 2))
    other_ip = auth_limited.post(f"{API}/auth/login", json=BAD_LOGIN, headers=from_ip(new_ip()))
    assert (other_ip.status_code, limit_headers(other_ip)[:2]) == (400, (3, 2))


@pytest.mark.parametrize(
    "operation",
    [
        "register",
        "login",
        "forgot-password",
        "reset-password",
        "verify-email",
        "confirm-email-change",
        "revert-email-change",
    ],
)
def test_each_brute_forceable_operation_is_limited(auth_limited, operation):
    ip = new_ip()
    for _ in range(3):
        assert auth_limited.post(f"{API}/auth/{operation}", json={}, headers=from_ip(ip)).status_code == 400
    assert_rate_limited(auth_limited.post(f"{API}/auth/{operation}", json={}, headers=from_ip(ip)))


def test_an_email_change_request_is_limited_per_ip(auth_limited):
    """It checks a password and mails any address the caller names: the auth budget, like login."""
    ip = new_ip()
    for _ in range(3):
        response = auth_limited.post(f"{API}/users/me/email", json={}, headers=from_ip(ip))
        assert response.status_code in (400, 401)
    assert_rate_limited(auth_limited.post(f"{API}/users/me/email", json={}, headers=from_ip(ip)))


def test_other_operations_only_spend_the_general_budget(auth_limited):
    ip = new_ip()
    for _ in range(5):
        response = auth_limited.post(f"{API}/auth/refresh", json={"refreshToken": "!"}, headers=from_ip(ip))
        assert response.status_code == 400
        assert limit_headers(response)[0] == 50


def test_a_forged_forwarded_for_from_an_untrusted_peer_changes_nothing(settings):
    app = build_app(settings, rate_limit_auth="3/minute", trusted_proxies=TRUSTED)
    with app.test_client(client=("192.0.2.7", 5000)) as client:
        for _ in range(3):
            assert client.post(f"{API}/auth/login", json=BAD_LOGIN, headers=from_ip(new_ip())).status_code == 400
        assert_rate_limited(client.post(f"{API}/auth/login", json=BAD_LOGIN, headers=from_ip(new_ip())))


def test_the_general_budget_is_per_user_when_the_token_verifies(default_limited):
    ip, ann = new_ip(), bearer()
    for remaining in (2, 1, 0):
        response = default_limited.get(f"{API}/users/me", headers=from_ip(ip, Authorization=ann))
        assert response.status_code == 401  # no such session: counted all the same
        assert limit_headers(response)[:2] == (3, remaining)
    assert_rate_limited(default_limited.get(f"{API}/users/me", headers=from_ip(ip, Authorization=ann)))
    # the same user from another address is still limited; others on this address are not
    assert_rate_limited(default_limited.get(f"{API}/projects", headers=from_ip(new_ip(), Authorization=ann)))
    assert default_limited.get(f"{API}/users/me", headers=from_ip(ip, Authorization=bearer())).status_code == 401
    assert default_limited.get(f"{API}/users/me", headers=from_ip(ip)).status_code == 401


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-jwt",
        f"Bearer {issue_access_token('x', 'y')[:-4]}AAAA",  # a forged signature
        "Basic dXNlcjpwYXNz",
    ],
    ids=["garbage", "forged-signature", "basic"],
)
def test_a_token_that_does_not_verify_spends_the_address_budget(default_limited, authorization):
    ip = new_ip()
    for _ in range(3):
        default_limited.get(f"{API}/projects", headers=from_ip(ip, Authorization=authorization))
    assert_rate_limited(default_limited.get(f"{API}/projects", headers=from_ip(ip)))


def test_the_headers_show_the_tighter_limit(auth_limited, default_limited):
    ip = new_ip()
    assert limit_headers(auth_limited.post(f"{API}/auth/login", json=BAD_LOGIN, headers=from_ip(ip)))[0] == 3
    assert limit_headers(auth_limited.get(f"{API}/projects", headers=from_ip(ip)))[0] == 50
    assert limit_headers(default_limited.post(f"{API}/auth/login", json=BAD_LOGIN, headers=from_ip(ip)))[0] == 3
    assert limit_headers(default_limited.post(f"{API}/auth/login", json=BAD_LOGIN, headers=from_ip(new_ip())))[1] == 2


def test_the_tighter_budget_is_the_one_with_fewer_requests_left():
    roomy, tight = Budget(True, 100, 97, 60), Budget(True, 10, 2, 30)
    refused = Budget(False, 100, 0, 12)
    assert tightest([roomy, tight]) == tight
    assert tightest([tight, refused]) == refused


@pytest.mark.parametrize(
    "path", ["/health", "/health/live", "/health/ready", "/metrics", f"{API}/ui/", f"{API}/openapi.json"]
)
def test_probes_metrics_docs_and_the_spec_are_not_limited(default_limited, path):
    ip = new_ip()
    for _ in range(5):
        response = default_limited.get(path, headers=from_ip(ip))
        assert response.status_code == 200
        assert "ratelimit-limit" not in response.headers


def test_unknown_api_paths_spend_the_budget_too(default_limited):
    ip = new_ip()
    for _ in range(3):
        response = default_limited.get(f"{API}/no/such/thing", headers=from_ip(ip))
        assert response.status_code == 404
        assert "ratelimit-remaining" in response.headers
    assert_rate_limited(default_limited.get(f"{API}/no/such/thing", headers=from_ip(ip)))


def test_the_contract_documents_the_429_and_the_headers():
    spec = load_spec()
    api = [
        (path, method, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS and path.startswith(API)
    ]
    assert api
    for path, method, op in api:
        assert op["responses"]["429"] == {"$ref": "#/components/responses/RateLimited"}, (method, path)
        for status, response in op["responses"].items():
            if status.startswith("2"):
                assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(response["headers"])
    limited = spec["components"]["responses"]["RateLimited"]["headers"]
    assert {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(limited)
    for path, item in spec["paths"].items():
        if not path.startswith(API):
            assert all("429" not in op["responses"] for m, op in item.items() if m in HTTP_METHODS), path


def test_storage_is_redis_when_configured_else_process_memory():
    assert isinstance(open_store(""), MemoryWindows)
    assert isinstance(open_store("redis://127.0.0.1:1/0"), RedisWindows)  # no connection until used


# -- Redis: shared between processes, and failing open -----------------------------------------


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """The configured Redis, or a private redis-server (the test fails if neither is available)."""
    if conftest.REDIS_URL:
        yield conftest.REDIS_URL
        return
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


UVICORN = [sys.executable, "-m", "uvicorn", "--factory", "app:create_app", "--host", "127.0.0.1", "--lifespan", "on"]


def test_two_processes_share_the_budget_through_redis(redis_url, tmp_path):
    env = conftest.test_environ(
        f"sqlite:///{tmp_path / 'unused.db'}",
        tmp_path,
        REDIS_URL=redis_url,
        CELERY_BROKER_URL="filesystem://",
        RATE_LIMIT_AUTH="4/minute",
        RATE_LIMIT_PREFIX=f"test-{uuid.uuid4().hex}",
    )
    ports = [free_port(), free_port()]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    servers = [
        Service(f"API on {port}", [*UVICORN, "--port", str(port)], env, tmp_path / f"api-{port}.log") for port in ports
    ]
    try:
        with ThreadPoolExecutor(2) as pool:  # start both at once: each takes seconds to import
            starts = [pool.submit(s.start, http_ready(f"{b}/health")) for s, b in zip(servers, bases, strict=True)]
            for started in starts:
                started.result()
        seen = []
        for base in (*bases, *bases):  # a, b, a, b: one budget of 4 between them
            response = httpx.post(f"{base}{API}/auth/login", json=BAD_LOGIN, timeout=5)
            seen.append((response.status_code, response.headers["ratelimit-remaining"]))
        assert seen == [(400, "3"), (400, "2"), (400, "1"), (400, "0")]
        for base in bases:
            assert_rate_limited(httpx.post(f"{base}{API}/auth/login", json=BAD_LOGIN, timeout=5))
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def dying_redis(settings, tmp_path, monkeypatch):
    """An app whose limiter uses a private redis-server the test may kill (Celery and the rest
    keep the session's settings). Yields (client, server)."""
    server = RedisServer(tmp_path / "redis").start()
    monkeypatch.setattr(ratelimit, "open_store", lambda _url: RedisWindows(server.url))
    monkeypatch.setattr(ratelimit, "FAIL_OPEN_SECONDS", 0.3)
    app = build_app(settings, rate_limit_auth="1000/minute")
    with app.test_client() as client:
        yield client, server
    server.kill()


def test_the_limiter_fails_open_when_redis_is_down_and_recovers(dying_redis, caplog):
    client, server = dying_redis
    caplog.set_level("WARNING", logger="cairn.ratelimit")
    assert limit_headers(client.post(f"{API}/auth/login", json=BAD_LOGIN))[1] == 999

    server.kill()
    for _ in range(5):
        started = time.monotonic()
        response = client.post(f"{API}/auth/login", json=BAD_LOGIN)
        assert response.status_code == 400, response.text  # answered, unlimited: never a 5xx
        assert "ratelimit-limit" not in response.headers
        assert time.monotonic() - started < 1.5
    warnings = [r for r in caplog.records if r.name == "cairn.ratelimit" and r.levelname == "WARNING"]
    assert len(warnings) == 1  # once per outage window, not once per request
    assert "unreachable" in warnings[0].getMessage()

    server.start()
    deadline = time.monotonic() + 5
    while "ratelimit-limit" not in (response := client.post(f"{API}/auth/login", json=BAD_LOGIN)).headers:
        assert time.monotonic() < deadline, "the limiter never came back after Redis did"
        time.sleep(0.1)
    assert limit_headers(response)[0] == 1000


@pytest.fixture
def silent_redis(settings, monkeypatch):
    """An app whose limiter talks to a port that accepts connections and never answers (a hung
    Redis). Yields (client, attempts): how many times the limiter went to the store."""
    attempts = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        store = RedisWindows(f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
        store_spend = store.spend
        monkeypatch.setattr(store, "spend", lambda *a, **k: attempts.append(1) or store_spend(*a, **k))
        monkeypatch.setattr(ratelimit, "open_store", lambda _url: store)
        app = build_app(settings)
        with app.test_client() as client:
            yield client, attempts


def test_a_hung_redis_costs_one_short_time_out_not_a_hang(silent_redis):
    client, attempts = silent_redis
    started = time.monotonic()
    assert client.post(f"{API}/auth/login", json=BAD_LOGIN).status_code == 400
    assert time.monotonic() - started < 2.0  # the 0.5 s socket time-out, then fail open
    for _ in range(3):
        assert client.post(f"{API}/auth/login", json=BAD_LOGIN).status_code == 400
    assert len(attempts) == 1  # within the fail-open window the store is not asked again


# -- The stores: one moving-window semantics in memory and in Redis ---------------------------


@pytest.fixture(params=["memory", "redis"])
def store(request):
    if request.param == "memory":
        return MemoryWindows()
    return RedisWindows(request.getfixturevalue("redis_url"))


def spend(store, item: str, key: str) -> Budget:
    (budget,) = asyncio.run(store.spend([(parse(item), key)]))
    return budget


def test_a_window_admits_its_limit_then_refuses_until_the_oldest_hit_ages_out(store):
    key = f"test-{uuid.uuid4().hex}"
    first = spend(store, "2/second", key)
    assert first == Budget(allowed=True, limit=2, remaining=1, reset=1)
    assert spend(store, "2/second", key) == Budget(allowed=True, limit=2, remaining=0, reset=1)
    refused = spend(store, "2/second", key)
    assert (refused.allowed, refused.remaining) == (False, 0)
    assert 0 <= refused.reset <= 1
    time.sleep(1.1)  # both counted hits have left the one-second window
    assert spend(store, "2/second", key) == Budget(allowed=True, limit=2, remaining=1, reset=1)


def test_windows_are_per_key_and_per_limit(store):
    key = f"test-{uuid.uuid4().hex}"
    assert spend(store, "1/minute", key).allowed
    assert not spend(store, "1/minute", key).allowed
    assert spend(store, "1/minute", key + "-other").allowed
    refused = spend(store, "1/minute", key)
    assert 59 <= refused.reset <= 60


def test_a_refusal_stops_the_spending(store):
    first, second = f"test-{uuid.uuid4().hex}", f"test-{uuid.uuid4().hex}"
    spend(store, "1/minute", first)
    refused = asyncio.run(store.spend([(parse("1/minute"), first), (parse("5/minute"), second)]))
    assert [b.allowed for b in refused] == [False]
    assert spend(store, "5/minute", second).remaining == 4  # the second window was left alone
