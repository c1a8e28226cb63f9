"""Schemathesis hooks for Cairn that speak only HTTP: what QA needs to fuzz any running server.

Named by ``schemathesis.toml`` (found from the repository root), so ``schemathesis run
<server>/api/v1/openapi.json`` loads them; the in-process suite (``test_schemathesis.py``) and
the external run (``test_external_run.py``) load the same file through the same config. They
never touch the database: every account is made through the API, with the run's own transport
(HTTP, or the ASGI app in-process).

- **A shared user** for every authenticated operation that leaves its session alive: registered
  on first use, logged in again before its access token (15 minutes) can expire, and registered
  anew if its account is gone (another database behind the same URL).
- **A fresh user per case** for the operations that end a session or spend a token: logout,
  delete account, change password and change email (with that user's real ``currentPassword``;
  an email change ends sessions only once confirmed, but a fresh account keeps each case's
  pending change and its addresses to itself), revoke session
  (with its real session id) and refresh (with its real refresh token) — the real values only
  where schemathesis meant the data to be valid, so negative cases stay negative.
- **The admin** named by ``CAIRN_QA_ADMIN_EMAIL`` / ``CAIRN_QA_ADMIN_PASSWORD`` for ``/admin/*``
  (``make admin`` creates one). Disable, enable and unlock act on a **fresh user per case** (its
  id put in the path where schemathesis meant it to be valid, a link's included): disabling the
  shared user would end its session mid-run, and the admin's own account is a documented 409.
- The spec's example account exists and logs in for real in the examples phase.
- A token a link carried from a response (register → get me, …) is kept; a cursor is kept only
  if the server made it for that list (made-up ones are a documented 400).
- A valid ``Idempotency-Key`` on the creates is made fresh (a UUID) for each call, as a client
  makes one per intended create: Hypothesis draws the same few keys again and again, and a drawn
  key sent again with another body is the documented 422 (with the same body, a replay of a
  project the run may have deleted since). Replays, mismatches and conflicts are proven by
  tests/api/test_idempotency.py; malformed keys stay as drawn (400).
- A valid case keeps ``If-Match`` / ``If-None-Match`` only if the value is well-formed (see
  ``only_well_formed_entity_tags``: a schemathesis coverage-phase quirk).

What no hook can give without reading a mailbox — a live verification, reset, email-change
confirmation or revert token — is declared in ``schemathesis.toml`` as the by-design rejection it is.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
import uuid
from typing import Any, NamedTuple

import schemathesis
from requests.structures import CaseInsensitiveDict
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import TestPhase

PASSWORD = "Qa-Fuzz-Pass-42"
EXAMPLE_ACCOUNT = {"email": "ann@example.com", "password": "Granite-Path-42", "name": "Ann Lee"}  # the spec's
ADMIN_OPERATIONS = ("list_audit_logs", "get_queues", "list_users", "get_user")
ADMIN_TARGET_OPERATIONS = ("disable_user", "enable_user", "unlock_user")  # the admin, on a fresh user
FRESH_USER_OPERATIONS = ("logout", "delete_me", "change_password", "change_email", "revoke_session", "refresh")
NEEDS_CURRENT_PASSWORD = ("change_password", "change_email")
SHARED_REFRESH_SECONDS = 600  # below the access token's 15 minutes
KEYED_CREATES = ("create_project", "create_milestone")
LISTS = ("list_projects", "list_milestones", "list_sessions", "list_my_audit_logs", "list_audit_logs", "list_users")
CURSOR_BOUND = ("page", "sort", "search", "status", "action", "userId")  # a cursor carries these
CONDITIONAL = (
    "get_project",
    "update_project",
    "delete_project",
    "get_milestone",
    "update_milestone",
    "delete_milestone",
)


class QaSetupError(RuntimeError):
    """The run cannot get the credentials it needs (the message says what to fix)."""


class Credentials(NamedTuple):  # not a dataclass: schemathesis loads this file outside sys.modules
    email: str
    password: str
    access_token: str
    refresh_token: str
    user_id: str


# Calls to the API, through the run's own transport -----------------------------------------------


def send(operation, operation_id: str, *, body: dict | None = None, token: str | None = None):
    """Call ``operation_id`` as a client would (HTTP, or the ASGI app in-process).

    Auth providers run while Hypothesis draws a case, and a ``Case`` takes its id from the global
    ``random``: its state is put back, as Hypothesis requires of code inside a strategy."""
    target = operation.schema.find_operation_by_id(operation_id)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    state = random.getstate()
    try:
        case = target.Case(headers=headers) if body is None else target.Case(headers=headers, body=body)
        return case.call()
    finally:
        random.setstate(state)


def _credentials(response, email: str, password: str) -> Credentials:
    body = response.json()
    tokens = body["tokens"]
    _remember_tokens(response)
    return Credentials(email, password, tokens["accessToken"], tokens["refreshToken"], body["user"]["id"])


def register(operation, email: str | None = None, password: str = PASSWORD) -> Credentials:
    """A new account, logged in (``qa-…@example.com`` unless ``email`` is given)."""
    email = email or f"qa-{uuid.uuid4().hex}@example.com"
    response = send(operation, "register", body={"email": email, "password": password, "name": "QA Fuzzer"})
    if response.status_code != 201:
        raise QaSetupError(f"registering {email} answered {response.status_code}: {response.text[:300]}")
    return _credentials(response, email, password)


def log_in(operation, email: str, password: str) -> Credentials | None:
    """A new session for the account, or None when the server refuses the credentials."""
    response = send(operation, "login", body={"email": email, "password": password})
    if response.status_code == 200:
        return _credentials(response, email, password)
    if response.status_code in (401, 423):
        return None
    raise QaSetupError(f"logging in {email} answered {response.status_code}: {response.text[:300]}")


def current_session_id(operation, credentials: Credentials) -> str:
    response = send(operation, "list_sessions", token=credentials.access_token)
    return next(session["id"] for session in response.json()["data"] if session["current"])


# What the server handed out -------------------------------------------------------------------

_lock = threading.Lock()
_issued_tokens: set[str] = set()
_issued_cursors: set[tuple[str, str]] = set()  # (operation id, cursor)


def _remember_tokens(response) -> None:
    body = _json(response)
    tokens = body.get("tokens") if isinstance(body, dict) else None
    if isinstance(tokens, dict) and isinstance(tokens.get("accessToken"), str):
        with _lock:
            _issued_tokens.add(tokens["accessToken"])


def _json(response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


@schemathesis.hook
def after_call(context, case, response) -> None:
    """Remember the access tokens and cursors the server made (links carry them to later calls)."""
    _remember_tokens(response)
    body = _json(response)
    meta = body.get("meta") if isinstance(body, dict) else None
    if isinstance(meta, dict) and isinstance(meta.get("nextCursor"), str):
        with _lock:
            _issued_cursors.add((operation_name(case.operation), meta["nextCursor"]))


# Auth providers ---------------------------------------------------------------------------------


def operation_name(operation) -> str:
    return operation.definition.raw["operationId"]


def is_positive(case, location: ParameterLocation) -> bool:
    """Whether schemathesis meant this part of the case to be valid (explicit cases count as valid)."""
    if case.meta is None:
        return True
    component = case.meta.components.get(location)
    return component is None or component.mode.is_positive


def _carries_issued_token(case) -> bool:
    """A stateful link already put one of the server's own access tokens here."""
    scheme, _, token = str((case.headers or {}).get("Authorization", "")).partition(" ")
    in_stateful_phase = case.meta is not None and case.meta.phase.name == TestPhase.STATEFUL
    with _lock:
        return in_stateful_phase and scheme == "Bearer" and token in _issued_tokens


def authorize(case, access_token: str) -> None:
    """Send ``access_token`` unless a link supplied a real one (a new container: never edit in place)."""
    if _carries_issued_token(case):
        return
    headers = CaseInsensitiveDict(case.headers or {})
    headers["Authorization"] = f"Bearer {access_token}"
    case.headers = headers


def _shared_user_operation(context) -> bool:
    """Authenticated operations that leave the session alive and are not admin-only."""
    public = context.operation.definition.raw.get("security") == []
    special = (*ADMIN_OPERATIONS, *ADMIN_TARGET_OPERATIONS, *FRESH_USER_OPERATIONS)
    return not public and operation_name(context.operation) not in special


class _Bearer:
    """Puts the access token ``get`` gave into the case (schemathesis caches it for the refresh interval)."""

    def set(self, case, data: str, context) -> None:
        authorize(case, data)


@schemathesis.auth(refresh_interval=SHARED_REFRESH_SECONDS, retry_on=[]).apply_to(_shared_user_operation)
class SharedUser(_Bearer):
    """One ordinary user for every authenticated operation that leaves the session alive."""

    def __init__(self) -> None:
        self.account: tuple[str, str] | None = None  # email, password

    def get(self, case, context) -> str:
        if self.account is not None:
            again = log_in(context.operation, *self.account)
            if again is not None:
                return again.access_token
        credentials = register(context.operation)  # first use, or the account is gone
        self.account = (credentials.email, credentials.password)
        return credentials.access_token


def admin_token(operation) -> str:
    """An access token of the administrator QA names in the environment (a new login)."""
    email, password = os.environ.get("CAIRN_QA_ADMIN_EMAIL"), os.environ.get("CAIRN_QA_ADMIN_PASSWORD")
    if not (email and password):
        raise QaSetupError("set CAIRN_QA_ADMIN_EMAIL and CAIRN_QA_ADMIN_PASSWORD to an admin (make admin EMAIL=…)")
    credentials = log_in(operation, email, password)
    if credentials is None:
        raise QaSetupError(f"the server refused the login of CAIRN_QA_ADMIN_EMAIL ({email})")
    return credentials.access_token


@schemathesis.auth(refresh_interval=SHARED_REFRESH_SECONDS, retry_on=[]).apply_to(operation_id=list(ADMIN_OPERATIONS))
class SharedAdmin(_Bearer):
    """The administrator QA names in the environment, for the admin operations."""

    def get(self, case, context) -> str:
        return admin_token(context.operation)


@schemathesis.auth(refresh_interval=None).apply_to(operation_id=list(ADMIN_TARGET_OPERATIONS))
class AdminOnFreshUser:
    """The administrator, acting on a user registered for this case alone (valid paths only)."""

    def __init__(self) -> None:
        self.token: tuple[float, str] | None = None  # (when it was issued, token): one login per ten minutes
        self.logging_in = threading.Lock()  # not ``_lock``: logging in takes that one

    def get(self, case, context) -> tuple[str, str | None]:
        with self.logging_in:
            if self.token is None or time.monotonic() - self.token[0] > SHARED_REFRESH_SECONDS:
                self.token = (time.monotonic(), admin_token(context.operation))
            token = self.token[1]
        wants_target = is_positive(case, ParameterLocation.PATH)
        return token, register(context.operation).user_id if wants_target else None

    def set(self, case, data: tuple[str, str | None], context) -> None:
        token, user_id = data
        authorize(case, token)
        if user_id is not None:
            case.path_parameters = {**(case.path_parameters or {}), "userId": user_id}


@schemathesis.auth(refresh_interval=None).apply_to(operation_id=list(FRESH_USER_OPERATIONS))
class FreshUser:
    """A new user for every case of an operation that ends its session or spends its token."""

    def get(self, case, context) -> tuple[Credentials, str | None]:
        credentials = register(context.operation)
        wants_session = operation_name(context.operation) == "revoke_session"
        return credentials, current_session_id(context.operation, credentials) if wants_session else None

    def set(self, case, data: tuple[Credentials, str | None], context) -> None:
        credentials, session_id = data
        name = operation_name(case.operation)
        if name != "refresh":
            authorize(case, credentials.access_token)
        # New containers, never edits in place: a body may be the spec's own example, shared with other cases.
        body_is_valid = isinstance(case.body, dict) and is_positive(case, ParameterLocation.BODY)
        if body_is_valid and name in NEEDS_CURRENT_PASSWORD:
            case.body = {**case.body, "currentPassword": credentials.password}
        if body_is_valid and name == "refresh":
            case.body = {**case.body, "refreshToken": credentials.refresh_token}
        if session_id is not None and is_positive(case, ParameterLocation.PATH):
            case.path_parameters = {**(case.path_parameters or {}), "sessionId": session_id}


# Requests ---------------------------------------------------------------------------------------


@schemathesis.hook("before_call").apply_to(operation_id="login")
def example_account_exists(context, case, kwargs) -> None:
    """The spec's login example logs in for real: its account is registered first (409 when it is there)."""
    if case.meta is not None and case.meta.phase.name == TestPhase.EXAMPLES:
        send(case.operation, "register", body=EXAMPLE_ACCOUNT)


@schemathesis.hook("before_call").apply_to(operation_id=list(LISTS))
def only_issued_cursors(context, case, kwargs) -> None:
    """A valid case keeps a cursor only if the server made it for this list (the stateful phase
    follows the ``next`` links), and then without ``page`` and without sort or filters of its own."""
    query = case.query if isinstance(case.query, dict) else {}
    if "cursor" not in query or not is_positive(case, ParameterLocation.QUERY):
        return
    with _lock:
        issued = (operation_name(case.operation), str(query["cursor"])) in _issued_cursors
    if not issued:
        query.pop("cursor")
        return
    for name in CURSOR_BOUND:
        query.pop(name, None)


@schemathesis.hook("before_call").apply_to(operation_id=list(KEYED_CREATES))
def fresh_idempotency_keys(context, case, kwargs) -> None:
    """A valid ``Idempotency-Key`` becomes a new UUID (a new container: never edit in place)."""
    headers = CaseInsensitiveDict(case.headers or {})
    if "Idempotency-Key" in headers and is_positive(case, ParameterLocation.HEADER):
        headers["Idempotency-Key"] = str(uuid.uuid4())
        case.headers = headers


@schemathesis.hook("before_call").apply_to(operation_id=list(CONDITIONAL))
def only_well_formed_entity_tags(context, case, kwargs) -> None:
    """A valid case sends ``If-Match`` / ``If-None-Match`` only if the value matches its pattern.

    schemathesis 4.32's coverage phase draws header values from ASCII letters and digits only, so
    an entity tag (which needs double quotes) has no valid value there; its "default positive"
    case (positive as a whole, its headers marked negative) then carries one of the negative
    values (``If-Match: 0``), which the server rightly refuses with 400. Without the header the
    case is what it was meant to be: valid. Negative cases keep their malformed tags.
    """
    if not case.headers or (case.meta is not None and not case.meta.generation.mode.is_positive):
        return
    headers = CaseInsensitiveDict(case.headers)  # a new container: never edit in place
    for parameter in case.operation.headers:
        pattern = parameter.definition.get("schema", {}).get("pattern")
        value = headers.get(parameter.name)
        if pattern and isinstance(value, str) and not re.search(pattern, value):
            headers.pop(parameter.name)
    case.headers = headers
