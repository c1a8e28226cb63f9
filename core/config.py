"""Settings, read from the environment in exactly one place.

Every variable is listed in README.md and `.env.example`. A bad value fails at
start-up with a message that names the variable.
"""

from __future__ import annotations

import ipaddress
import math
import os
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from limits import parse_many

from core.keys import SigningKeyError, load_keys, parse_key_paths

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = ROOT / "var"
VERSION = "1.0.0"
QUEUES = ("emails", "audit", "maintenance")  # the Celery queues, one per kind of background work
BROKER_TIMEOUT_SECONDS = 1.0  # every broker socket operation, so a dead broker costs a request at most this

ENVIRONMENTS = ("development", "test", "production")
EMAIL_BACKENDS = ("smtp", "file", "console")
MIN_SECRET_BYTES = 32
MIN_BCRYPT_ROUNDS = 10
DEV_JWT_SECRET = "dev-only-secret-change-me-in-production-0123456789"


class ConfigError(RuntimeError):
    """A setting is missing or malformed; raised at start-up."""


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _choice(name: str, raw: str, allowed: tuple[str, ...]) -> str:
    if raw not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _rate(name: str, raw: str) -> str:
    """One rate in the ``limits`` notation, e.g. ``100/minute``."""
    try:
        ok = len(parse_many(raw)) == 1
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"{name} must be one rate such as 100/minute, got {raw!r}")
    return raw


def _origins(name: str, raw: str) -> tuple[str, ...]:
    """Exact origins (``scheme://host[:port]``). ``*`` is refused: CORS here sends credentials."""
    origins = _list(raw)
    for origin in origins:
        if not _is_exact_origin(origin):
            raise ConfigError(f"{name} must list origins like https://app.example.com (no '*'), got {origin!r}")
    return origins


def _is_exact_origin(origin: str) -> bool:
    """What a browser sends in ``Origin``: lower-case scheme and host, an optional port, nothing else."""
    try:
        parts = urlsplit(origin)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return False
    bare = not (parts.username or parts.path or parts.query or parts.fragment)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and bare and origin == origin.lower()


def _networks(name: str, raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in _list(raw))
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _key_paths(raw: str) -> tuple[tuple[str, str], ...]:
    try:
        return parse_key_paths(raw)
    except SigningKeyError as exc:
        raise ConfigError(str(exc)) from None


def default_sqlite_url() -> str:
    return f"sqlite:///{VAR_DIR / 'cairn.db'}"


CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # a container's CPU quota (cgroup v2): "200000 100000" = 2 cores


def _cores() -> int:
    """The cores this process may run on: its CPU affinity, capped by its container's CPU quota.

    The affinity alone sees every core of the host, so a 2-CPU container on a 32-core host
    would start 33 API workers (and open up to 330 database connections).
    """
    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()
        return max(1, min(cores, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):  # no cgroup v2 file, or "max" (no quota)
        return cores


def default_web_concurrency() -> int:
    """gunicorn workers for ``make api``: one per core, plus one.

    A worker is one event loop and one GIL: with one per core, the cores sat 10-18 % idle at 16
    connections while each worker's requests queued for its GIL; one more worker fills them (on 2
    cores it raised refresh at 16 connections from 180-235 to 228-241 req/s; a fourth added nothing).
    """
    return _cores() + 1


@dataclass(frozen=True)
class Settings:
    app_env: str = "development"
    database_url: str = field(default_factory=default_sqlite_url)
    redis_url: str = ""
    celery_broker_url: str = ""
    jwt_secret: str = DEV_JWT_SECRET
    app_base_url: str = "http://localhost:3000"
    email_backend: str = "file"
    mail_dir: Path = VAR_DIR / "mail"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    mail_from: str = "Cairn <no-reply@cairn.local>"
    cors_origins: tuple[str, ...] = ()
    rate_limit_default: str = "100/minute"
    rate_limit_auth: str = "10/minute"
    rate_limit_prefix: str = "cairn"
    trusted_proxies: tuple = ()
    log_level: str = "INFO"
    port: int = 8000
    web_concurrency: int = field(default_factory=default_web_concurrency)  # gunicorn workers (gunicorn.conf.py)
    bcrypt_rounds: int = 10
    bcrypt_concurrency: int = field(default_factory=_cores)  # hashes at once per process (core.passwords)
    request_threads: int = 10  # handler threads per worker (web.operations); each holds at most one connection
    db_pool_size: int = 10
    db_pool_timeout: float = 2.0
    db_statement_timeout_ms: int = 5000
    validate_responses: bool = False
    task_retry_backoff: int = 2
    outbox_lease_seconds: int = 300
    outbox_relay_seconds: int = 5
    jwt_signing_keys: tuple[tuple[str, str], ...] = ()  # (kid, path) pairs; the first signs (core.keys)
    refresh_reuse_grace_seconds: int = 10

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def broker_url(self) -> str:
        """Celery broker: explicit, else Redis, else the embedded filesystem transport."""
        return self.celery_broker_url or self.redis_url or "filesystem://"

    @property
    def uses_redis_broker(self) -> bool:
        return self.broker_url.startswith(("redis://", "rediss://"))

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://", "postgres+pool://"))

    def check(self) -> Settings:
        """Refuse settings that are unsafe for the environment they run in."""
        if self.is_production:
            if self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret.encode()) < MIN_SECRET_BYTES:
                raise ConfigError(f"JWT_SECRET must be set to at least {MIN_SECRET_BYTES} bytes in production")
            if self.bcrypt_rounds < MIN_BCRYPT_ROUNDS:
                raise ConfigError(f"BCRYPT_ROUNDS must be at least {MIN_BCRYPT_ROUNDS} in production")
        if not 4 <= self.bcrypt_rounds <= 31:
            raise ConfigError("BCRYPT_ROUNDS must be between 4 and 31")
        if self.bcrypt_concurrency < 1:
            raise ConfigError("BCRYPT_CONCURRENCY must be at least 1")
        if self.web_concurrency < 1:
            raise ConfigError("WEB_CONCURRENCY must be at least 1")
        if self.request_threads < 1:
            raise ConfigError("REQUEST_THREADS must be at least 1")
        if self.refresh_reuse_grace_seconds < 0:
            raise ConfigError("REFRESH_REUSE_GRACE_SECONDS must be 0 (off) or more")
        try:
            load_keys(self.jwt_signing_keys)  # an unreadable, malformed or public-only key stops start-up
        except SigningKeyError as exc:
            raise ConfigError(str(exc)) from None
        return self


def load_settings(environ: os._Environ | dict | None = None) -> Settings:
    """Build Settings from environment variables (``os.environ`` by default)."""
    env = os.environ if environ is None else environ

    def get(name: str, default: str = "") -> str:
        return env.get(name, default)

    defaults = Settings()
    request_threads = _int("REQUEST_THREADS", get("REQUEST_THREADS") or str(defaults.request_threads))
    app_env = _choice("APP_ENV", get("APP_ENV", "development"), ENVIRONMENTS)
    return Settings(
        app_env=app_env,
        database_url=get("DATABASE_URL") or defaults.database_url,
        redis_url=get("REDIS_URL"),
        celery_broker_url=get("CELERY_BROKER_URL"),
        jwt_secret=get("JWT_SECRET") or (DEV_JWT_SECRET if app_env != "production" else ""),
        app_base_url=get("APP_BASE_URL", defaults.app_base_url).rstrip("/"),
        email_backend=_choice("EMAIL_BACKEND", get("EMAIL_BACKEND", "file"), EMAIL_BACKENDS),
        mail_dir=Path(get("MAIL_DIR") or defaults.mail_dir),
        smtp_host=get("SMTP_HOST", defaults.smtp_host),
        smtp_port=_int("SMTP_PORT", get("SMTP_PORT", "25")),
        smtp_user=get("SMTP_USER"),
        smtp_password=get("SMTP_PASSWORD"),
        smtp_starttls=_bool("SMTP_STARTTLS", get("SMTP_STARTTLS", "false")),
        mail_from=get("MAIL_FROM", defaults.mail_from),
        cors_origins=_origins("CORS_ORIGINS", get("CORS_ORIGINS")),
        rate_limit_default=_rate("RATE_LIMIT_DEFAULT", get("RATE_LIMIT_DEFAULT", defaults.rate_limit_default)),
        rate_limit_auth=_rate("RATE_LIMIT_AUTH", get("RATE_LIMIT_AUTH", defaults.rate_limit_auth)),
        rate_limit_prefix=get("RATE_LIMIT_PREFIX") or defaults.rate_limit_prefix,
        trusted_proxies=_networks("TRUSTED_PROXIES", get("TRUSTED_PROXIES")),
        log_level=get("LOG_LEVEL", "INFO").upper(),
        port=_int("PORT", get("PORT", "8000")),
        web_concurrency=_int("WEB_CONCURRENCY", get("WEB_CONCURRENCY") or str(defaults.web_concurrency)),
        bcrypt_rounds=_int("BCRYPT_ROUNDS", get("BCRYPT_ROUNDS", "10")),
        bcrypt_concurrency=_int("BCRYPT_CONCURRENCY", get("BCRYPT_CONCURRENCY") or str(defaults.bcrypt_concurrency)),
        request_threads=request_threads,
        db_pool_size=_int("DB_POOL_SIZE", get("DB_POOL_SIZE") or str(request_threads)),  # one per thread
        db_pool_timeout=float(_int("DB_POOL_TIMEOUT_MS", get("DB_POOL_TIMEOUT_MS", "2000"))) / 1000,
        db_statement_timeout_ms=_int("DB_STATEMENT_TIMEOUT_MS", get("DB_STATEMENT_TIMEOUT_MS", "5000")),
        validate_responses=_bool("VALIDATE_RESPONSES", get("VALIDATE_RESPONSES", str(app_env == "test"))),
        task_retry_backoff=_int("TASK_RETRY_BACKOFF_SECONDS", get("TASK_RETRY_BACKOFF_SECONDS", "2")),
        outbox_lease_seconds=_int("OUTBOX_LEASE_SECONDS", get("OUTBOX_LEASE_SECONDS", "300")),
        outbox_relay_seconds=_int("OUTBOX_RELAY_SECONDS", get("OUTBOX_RELAY_SECONDS", "5")),
        jwt_signing_keys=_key_paths(get("JWT_SIGNING_KEYS")),
        refresh_reuse_grace_seconds=_int("REFRESH_REUSE_GRACE_SECONDS", get("REFRESH_REUSE_GRACE_SECONDS", "10")),
    ).check()


_current: Settings | None = None
# The settings of the app serving this request (web.scope sets it), so two apps built with
# different settings can serve side by side in one process.
_serving: ContextVar[Settings | None] = ContextVar("serving_settings", default=None)


def get_settings() -> Settings:
    """The settings in force: the serving app's, else those the process was built with, else the environment's."""
    global _current
    serving = _serving.get()
    if serving is not None:
        return serving
    if _current is None:
        _current = load_settings()
    return _current


def use_settings(settings: Settings) -> Settings:
    """Make ``settings`` the process's (CLI, workers, and requests of an app that sets none)."""
    global _current
    _current = settings
    return settings


def serve_with(settings: Settings) -> Token:
    """Make ``settings`` the ones in force for the current context (a request); reset with the token."""
    return _serving.set(settings)


def stop_serving(token: Token) -> None:
    _serving.reset(token)
