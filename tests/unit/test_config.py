"""Start-up refuses unsafe or malformed settings, naming the variable; cookie flags per environment."""

from __future__ import annotations

import re

import pytest

from core.config import DEV_JWT_SECRET, ConfigError, Settings, load_settings

API = "/api/v1"
GOOD_SECRET = "x" * 32
PRODUCTION = {"APP_ENV": "production", "JWT_SECRET": GOOD_SECRET, "BCRYPT_ROUNDS": "10"}


def test_production_starts_with_safe_settings():
    settings = load_settings(PRODUCTION)
    assert settings.is_production
    assert settings.jwt_secret == GOOD_SECRET


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"JWT_SECRET": ""}, "JWT_SECRET"),  # missing
        ({"JWT_SECRET": "x" * 31}, "JWT_SECRET"),  # one byte short
        ({"JWT_SECRET": "é" * 15}, "JWT_SECRET"),  # 30 bytes, however many characters
        ({"JWT_SECRET": DEV_JWT_SECRET}, "JWT_SECRET"),  # long enough, but public
        ({"BCRYPT_ROUNDS": "9"}, "BCRYPT_ROUNDS"),
    ],
    ids=["missing-secret", "short-secret", "short-in-bytes", "dev-secret", "weak-bcrypt"],
)
def test_production_refuses_unsafe_secrets(changes, variable):
    environ = {k: v for k, v in {**PRODUCTION, **changes}.items() if v}
    with pytest.raises(ConfigError, match=variable):
        load_settings(environ)


def test_create_app_refuses_them_too_before_touching_anything():
    from app import create_app

    with pytest.raises(ConfigError, match="JWT_SECRET"):
        create_app(Settings(app_env="production", jwt_secret="short"))


def test_development_and_test_may_use_the_dev_secret_and_cheap_hashing():
    assert load_settings({"APP_ENV": "development"}).jwt_secret == DEV_JWT_SECRET
    assert load_settings({"APP_ENV": "test", "BCRYPT_ROUNDS": "4"}).bcrypt_rounds == 4


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RATE_LIMIT_DEFAULT", "lots"),
        ("RATE_LIMIT_AUTH", "10/fortnight"),
        ("RATE_LIMIT_AUTH", "1/second;10/minute"),  # one rate per variable
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("TRUSTED_PROXIES", "proxy.internal"),
        ("CORS_ORIGINS", "*"),
        ("APP_ENV", "staging"),
        ("BCRYPT_ROUNDS", "ten"),
        ("BCRYPT_CONCURRENCY", "0"),
        ("BCRYPT_CONCURRENCY", "two"),
        ("WEB_CONCURRENCY", "0"),
        ("WEB_CONCURRENCY", "many"),
        ("REQUEST_THREADS", "0"),
        ("REQUEST_THREADS", "few"),
    ],
)
def test_malformed_values_fail_at_start_up_naming_the_variable(variable, value):
    with pytest.raises(ConfigError, match=variable):
        load_settings({variable: value})


def test_security_settings_are_read_from_the_environment():
    settings = load_settings(
        {
            "RATE_LIMIT_DEFAULT": "200 per minute",
            "RATE_LIMIT_AUTH": "5/minute",
            "RATE_LIMIT_PREFIX": "blue",
            "TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1",
            "CORS_ORIGINS": "https://app.example.com, http://localhost:3000",
        }
    )
    assert (settings.rate_limit_default, settings.rate_limit_auth, settings.rate_limit_prefix) == (
        "200 per minute",
        "5/minute",
        "blue",
    )
    assert [str(net) for net in settings.trusted_proxies] == ["10.0.0.0/8", "192.168.1.1/32"]
    assert settings.cors_origins == ("https://app.example.com", "http://localhost:3000")


def test_the_defaults_are_the_documented_budgets():
    settings = load_settings({})
    assert (settings.rate_limit_default, settings.rate_limit_auth) == ("100/minute", "10/minute")
    assert settings.cors_origins == ()
    assert settings.trusted_proxies == ()


# -- the refresh cookie's flags per environment ----------------------------------------------


@pytest.mark.parametrize(("environment", "secure"), [("development", False), ("test", True), ("production", True)])
def test_the_refresh_cookie_is_secure_outside_development(client, reconfigure, environment, secure):
    reconfigure(app_env=environment)
    response = client.post(
        f"{API}/auth/register", json={"email": "ann@example.com", "password": "Granite-Path-42", "name": "Ann"}
    )
    assert response.status_code == 201, response.text
    attributes = [part.strip() for part in response.headers["set-cookie"].split(";")]
    assert attributes[0].startswith("cairn_refresh=")
    assert {"HttpOnly", "SameSite=Strict", "Path=/api/v1/auth"} <= set(attributes)
    assert ("Secure" in attributes) is secure


def test_bcrypt_concurrency_defaults_to_the_cores_this_process_may_use(monkeypatch, tmp_path):
    monkeypatch.setattr("core.config.CGROUP_CPU_MAX", tmp_path / "absent")
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1, 2})
    assert load_settings({}).bcrypt_concurrency == 3
    assert load_settings({"BCRYPT_CONCURRENCY": "5"}).bcrypt_concurrency == 5


def test_web_concurrency_defaults_to_one_worker_per_core_plus_one(monkeypatch, tmp_path):
    monkeypatch.setattr("core.config.CGROUP_CPU_MAX", tmp_path / "absent")
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1})
    assert load_settings({}).web_concurrency == 3
    assert load_settings({"WEB_CONCURRENCY": "5"}).web_concurrency == 5


def test_the_pool_holds_one_connection_per_request_thread_unless_set():
    assert load_settings({"REQUEST_THREADS": "4"}).db_pool_size == 4
    assert load_settings({"REQUEST_THREADS": "4", "DB_POOL_SIZE": "6"}).db_pool_size == 6


@pytest.mark.parametrize(
    ("cpu_max", "cores"),
    [("200000 100000", 2), ("150000 100000", 2), ("50000 100000", 1), ("max 100000", 32), ("garbage", 32)],
)
def test_a_containers_cpu_quota_caps_the_cores(monkeypatch, tmp_path, cpu_max, cores):
    quota = tmp_path / "cpu.max"
    quota.write_text(cpu_max + "\n")
    monkeypatch.setattr("core.config.CGROUP_CPU_MAX", quota)
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(32)))
    settings = load_settings({})
    assert (settings.bcrypt_concurrency, settings.web_concurrency) == (cores, cores + 1)


def _pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "unreadable"),
        (b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n", "not an unencrypted PEM private key"),
        ("public", "not an unencrypted PEM private key"),
        ("rsa", "must be EC P-256 (ES256) or Ed25519 (EdDSA)"),
        ("p384", "must be EC P-256 (ES256) or Ed25519 (EdDSA)"),
    ],
)
def test_a_bad_signing_key_stops_start_up_naming_the_variable(tmp_path, content, problem):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    path = tmp_path / "key.pem"
    if content == "public":
        public = ec.generate_private_key(ec.SECP256R1()).public_key()
        content = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    elif content == "rsa":
        content = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    elif content == "p384":
        content = _pem(ec.generate_private_key(ec.SECP384R1()))
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=f"JWT_SIGNING_KEYS.*{re.escape(problem)}"):
        load_settings({"APP_ENV": "production", "JWT_SECRET": "x" * 40, "JWT_SIGNING_KEYS": f"k1={path}"})


@pytest.mark.parametrize("raw", ["k1", "=path", "k1=", "k1=a,k1=b"])
def test_malformed_signing_key_lists_are_refused(raw):
    with pytest.raises(ConfigError, match="JWT_SIGNING_KEYS"):
        load_settings({"JWT_SIGNING_KEYS": raw})


def test_a_negative_reuse_grace_is_refused():
    with pytest.raises(ConfigError, match="REFRESH_REUSE_GRACE_SECONDS"):
        load_settings({"REFRESH_REUSE_GRACE_SECONDS": "-1"})
