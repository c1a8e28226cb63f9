"""Schemathesis hooks for Cairn: who calls each operation, and with which credentials.

Loaded in-process by ``tests/contract/test_schemathesis.py`` and by the external
``schemathesis run`` (``SCHEMATHESIS_HOOKS=contract.hooks``, ``tests/`` on ``PYTHONPATH``).
Importing this module registers everything globally.

- Most authenticated operations run as one shared user (cached); the admin operations
  as a shared admin. The external run passes the tokens of a user it registered through
  the API and of an admin made with ``manage.py create-admin`` (``CONTRACT_USER_TOKEN``,
  ``CONTRACT_ADMIN_TOKEN``); in-process they are made here.
- Operations that end a session or need fresh credentials (logout, delete account,
  change password, revoke a session, reset password, verify email) get a **fresh
  user per case**: ``change_password`` gets that user's real current password,
  ``revoke_session`` its real session id, ``reset_password`` / ``verify_email`` a
  real one-time token — but only where schemathesis generated valid data, so the
  negative cases stay negative.
- Positive cases whose password is over bcrypt's 72 UTF-8 bytes are dropped: the
  schema cannot count bytes, and the spec documents that 400 in prose.
- The spec's own example account (``ann@example.com``) exists, so the examples
  phase logs in for real.

Users, sessions and one-time tokens are written straight to the database with
``conftest.Accounts`` (fast: no HTTP, no email; and the API has no way to make an admin
or to hand out an emailed token); ``DATABASE_URL`` and ``JWT_SECRET`` say which
database and key when this runs outside the test process. Registration itself is
fuzzed like every other operation.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import schemathesis
from requests.structures import CaseInsensitiveDict
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import TestPhase

# In the CLI process: make the repository (models, core) and tests/ (conftest) importable.
_TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [p for p in (str(_TESTS.parent), str(_TESTS)) if p not in sys.path]

from conftest import Accounts  # noqa: E402 - needs the path above

PASSWORD = "Contract-Pass-42"
EXAMPLE_EMAIL = "ann@example.com"  # the spec's examples use this account
EXAMPLE_PASSWORD = "Granite-Path-42"
ADMIN_OPERATIONS = ("list_audit_logs", "get_queues")
SESSION_ENDING = ("logout", "delete_me", "change_password", "revoke_session")
TOKEN_OPERATIONS = {"reset_password": "reset_password", "verify_email": "verify_email"}
PASSWORD_FIELDS = {"register": "password", "change_password": "newPassword", "reset_password": "password"}
SHARED_REFRESH_SECONDS = 600  # below the access token's 15 minutes


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str
    access_token: str
    session_id: str


# Accounts and tokens, written straight to the database -----------------------------------------

_db_lock = threading.Lock()


def _database():
    """The app's database: already initialised in-process, from DATABASE_URL in the CLI run."""
    from models.db import db
    from store.database import init_db

    with _db_lock:
        if db.obj is None:
            init_db(os.environ["DATABASE_URL"])
    return db


def new_account(email: str | None = None, password: str = PASSWORD, role: str = "user") -> Credentials:
    """A user with a live session (``conftest.Accounts``: no HTTP, no email, bcrypt at the test cost)."""
    email = email or f"contract-{uuid.uuid4().hex}@example.com"
    with _database().connection_context():
        user = Accounts().create(email=email, name="Contract Tester", role=role, password=password)
        token, session_id = Accounts().login(user)
    return Credentials(email, password, token, session_id)


def example_account() -> None:
    """The account the spec's examples use, so the examples phase logs in for real (idempotent)."""
    from models import User

    with _database().connection_context():
        exists = User.select().where(User.email == EXAMPLE_EMAIL, User.deleted_at.is_null()).exists()
    if not exists:
        new_account(EXAMPLE_EMAIL, EXAMPLE_PASSWORD)


def one_time_token(email: str, purpose: str) -> str:
    """A live token for the user, stored hashed exactly as the email flow stores it."""
    from core.tokens import hash_token, new_opaque_token
    from models import OneTimeToken, User

    token = new_opaque_token()
    now = datetime.now(UTC)
    with _database().connection_context():
        user = User.get((User.email == email) & User.deleted_at.is_null())
        OneTimeToken.create(
            user=user,
            purpose=purpose,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + timedelta(hours=1),
        )
    return token


def _is_positive(case, location: ParameterLocation) -> bool:
    """Whether schemathesis meant this part of the case to be valid (explicit cases count as valid)."""
    if case.meta is None:
        return True
    component = case.meta.components.get(location)
    return component is None or component.mode.is_positive


# Auth providers ---------------------------------------------------------------------------------


def operation_name(operation) -> str:
    return operation.definition.raw["operationId"]


def _carries_server_token(case) -> bool:
    """A link (register / login / refresh → …) already put one of the server's own access tokens here."""
    from core.tokens import TokenExpired, TokenInvalid, decode_access_token

    scheme, _, token = str((case.headers or {}).get("Authorization", "")).partition(" ")
    try:
        decode_access_token(token)
    except (TokenExpired, TokenInvalid):
        return False
    return scheme == "Bearer" and case.meta is not None and case.meta.phase.name == TestPhase.STATEFUL


def authorize(case, access_token: str) -> None:
    """Send ``access_token`` unless a link supplied a real one (a new container: never edit in place)."""
    if _carries_server_token(case):
        return
    headers = CaseInsensitiveDict(case.headers or {})
    headers["Authorization"] = f"Bearer {access_token}"
    case.headers = headers


def _shared_user_operation(context) -> bool:
    """Authenticated operations that leave the session alive and are not admin-only."""
    public = context.operation.definition.raw.get("security") == []
    special = (*ADMIN_OPERATIONS, *SESSION_ENDING, *TOKEN_OPERATIONS)
    return not public and operation_name(context.operation) not in special


@schemathesis.auth(refresh_interval=SHARED_REFRESH_SECONDS, retry_on=[]).apply_to(_shared_user_operation)
class SharedUser:
    """One ordinary user for every authenticated operation that leaves the session alive."""

    def get(self, case, context) -> str:
        example_account()
        return os.environ.get("CONTRACT_USER_TOKEN") or new_account().access_token

    def set(self, case, data: str, context) -> None:
        authorize(case, data)


@schemathesis.auth(refresh_interval=SHARED_REFRESH_SECONDS, retry_on=[]).apply_to(operation_id=list(ADMIN_OPERATIONS))
class SharedAdmin:
    """One administrator for the admin operations."""

    def get(self, case, context) -> str:
        return os.environ.get("CONTRACT_ADMIN_TOKEN") or new_account(role="admin").access_token

    def set(self, case, data: str, context) -> None:
        authorize(case, data)


@schemathesis.auth(refresh_interval=None).apply_to(operation_id=[*SESSION_ENDING, *TOKEN_OPERATIONS])
class FreshUser:
    """A new user for every case of an operation that ends its session or consumes a token."""

    def get(self, case, context) -> tuple[Credentials, str | None]:
        credentials = new_account()
        purpose = TOKEN_OPERATIONS.get(operation_name(context.operation))
        return credentials, one_time_token(credentials.email, purpose) if purpose else None

    def set(self, case, data: tuple[Credentials, str | None], context) -> None:
        credentials, token = data
        name = operation_name(case.operation)
        if name in SESSION_ENDING:
            authorize(case, credentials.access_token)
        # New containers, never edits in place: a body may be the spec's own example dict,
        # shared with other cases.
        body_is_valid = isinstance(case.body, dict) and _is_positive(case, ParameterLocation.BODY)
        if body_is_valid and name == "change_password":
            case.body = {**case.body, "currentPassword": credentials.password}
        if body_is_valid and token is not None:
            case.body = {**case.body, "token": token}
        if name == "revoke_session" and _is_positive(case, ParameterLocation.PATH):
            case.path_parameters = {**(case.path_parameters or {}), "sessionId": credentials.session_id}


# Filters ----------------------------------------------------------------------------------------

LISTS = ("list_projects", "list_milestones", "list_my_audit_logs", "list_audit_logs")
CURSOR_BOUND = ("page", "sort", "search", "status", "action", "userId")


@schemathesis.hook("before_call")
def only_server_made_cursors(context, case, kwargs) -> None:
    """A cursor is a signed value the server made (a generated one is a documented 400), and it
    carries its list's sort and filters: a positive case keeps only a real one (the stateful phase
    follows the ``next`` links), without ``page`` and without sort or filters of its own."""
    query = case.query if isinstance(case.query, dict) else {}
    if operation_name(case.operation) not in LISTS or "cursor" not in query:
        return
    if not _is_positive(case, ParameterLocation.QUERY):
        return
    from core import cursors

    try:
        cursors.decode(str(query["cursor"]))
    except cursors.CursorInvalid:
        query.pop("cursor")
        return
    for name in CURSOR_BOUND:
        query.pop(name, None)


@schemathesis.hook("filter_case").apply_to(operation_id=list(PASSWORD_FIELDS))
def password_fits_bcrypt(context, case) -> bool:
    """Drop valid-by-schema passwords over 72 UTF-8 bytes (documented 400s the schema cannot express)."""
    if not (isinstance(case.body, dict) and _is_positive(case, ParameterLocation.BODY)):
        return True
    from core.passwords import too_long

    password = case.body.get(PASSWORD_FIELDS[operation_name(case.operation)])
    return not (isinstance(password, str) and too_long(password))


def forget_cached_credentials() -> None:
    """Drop cached shared users (the database they lived in was emptied)."""
    from schemathesis.auths import GLOBAL_AUTH_STORAGE

    for provider in GLOBAL_AUTH_STORAGE.providers:
        inner = getattr(provider, "provider", provider)
        if hasattr(inner, "invalidate"):
            inner.invalidate()
