"""Hostile input, table-driven over every operation in the spec: never a 5xx, always the error
envelope with a documented status, and not one row changed.

For each operation the cases are derived from the contract itself: every string field of its
body gets control characters, every field and the body itself the wrong types; raw bodies that
are not UTF-8, have duplicate keys, nest absurdly or weigh 2 MiB; every query parameter absurd
values (huge integers for ``page``/``limit``), every path id junk; every secured operation a
gallery of bad JWTs (``alg: none``, HS/RS confusion, missing claims, a deleted user's token…).
Each case starts from a request that would otherwise succeed (real ids, the right role), so it
is the one hostile part that is refused. SQL and script payloads are the opposite case: valid
text, stored and returned verbatim.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import reduce
from operator import getitem
from typing import Any
from urllib.parse import quote

import jwt
import pytest
from jsonschema import Draft4Validator

from app import HTTP_METHODS, load_spec
from core.tokens import AUDIENCE, ISSUER
from web.errors import STATUS_BY_CODE

SPEC = load_spec()
API = "/api/v1"
CONTROL_CHARACTERS = {"nul": "\x00", "esc": "\x1b", "del": "\x7f"}
WRONG_TYPES = {"int": 12345, "bool": True, "list": ["x"], "object": {"x": 1}}
TWO_MIB = 2 * 1024 * 1024
JSON_TYPE = {"Content-Type": "application/json"}
COOKIE_UNSAFE = set(' ;,"\\')
MEDIA_TYPE_SPELLINGS = {
    "capitalised": "Application/JSON",
    "upper": "APPLICATION/JSON; CHARSET=UTF-8",
    "space-before-parameter": "application/json ; charset=utf-8",
    "spaces-around": "  application/json\t;\tcharset=utf-8  ",
}
OVERSIZED_HEADERS = {"X-Padding": "a" * (32 * 1024)}
# A detail's message speaks to people (web/messages.py): no regular expression, no quoted value.
UNSPEAKABLE = ["(?=", "(?!", "^[", "[^", "\\x", "does not match", "is not of type", "<script>", "' OR '", "\x00"]


def resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = reduce(getitem, node["$ref"].removeprefix("#/").split("/"), SPEC)
    return node


OPERATIONS = [
    pytest.param(path, method, id=op["operationId"])
    for path, item in SPEC["paths"].items()
    for method, op in item.items()
    if method in HTTP_METHODS
]


@dataclass
class Case:
    name: str
    expect: set[int]
    params: dict[str, str] | list[tuple[str, str]] = field(default_factory=dict)
    path_suffix: str = ""
    path_values: dict[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    field: str | None = None  # the ``details`` entry a 400 must name
    code: str | None = None


@dataclass
class World:
    """A user and an admin with live sessions, and real ids for every path parameter."""

    ids: dict[str, str]
    tokens: dict[str, str]  # role -> access token
    sessions: dict[str, str]  # role -> session id of that token
    users: dict[str, str]  # role -> user id
    deleted_token: str
    revoked_token: str
    secret: str


@pytest.fixture
def world(client, accounts, settings) -> World:
    from models import Session, User

    user, admin = accounts.create(email="owner@example.com"), accounts.create(email="root@example.com", role="admin")
    (user_token, user_sid), (admin_token, admin_sid) = accounts.login(user), accounts.login(admin)
    _, other_sid = accounts.login(user)
    auth = {"Authorization": f"Bearer {user_token}"}
    project = client.post(f"{API}/projects", json={"name": "Base camp"}, headers=auth)
    assert project.status_code == 201, project.text
    project_id = project.json()["id"]
    milestone = client.post(f"{API}/projects/{project_id}/milestones", json={"title": "Ridge"}, headers=auth)
    assert milestone.status_code == 201, milestone.text

    gone = accounts.create(email="gone@example.com")
    deleted_token, _ = accounts.login(gone)
    User.update(deleted_at=datetime.now(UTC)).where(User.id == gone.id).execute()
    revoked_token, revoked_sid = accounts.login(user)
    Session.update(revoked_at=datetime.now(UTC)).where(Session.id == revoked_sid).execute()
    target = accounts.create(email="target@example.com")  # what the admin operations act on
    return World(
        ids={
            "projectId": project_id,
            "milestoneId": milestone.json()["id"],
            "sessionId": other_sid,
            "userId": str(target.id),
        },
        tokens={"user": user_token, "admin": admin_token},
        sessions={"user": user_sid, "admin": admin_sid},
        users={"user": str(user.id), "admin": str(admin.id)},
        deleted_token=deleted_token,
        revoked_token=revoked_token,
        secret=settings.jwt_secret,
    )


# -- the cases, derived from the operation's contract ---------------------------------------


def parameters(path: str, method: str) -> list[dict]:
    item = SPEC["paths"][path]
    return [resolve(p) for p in [*item.get("parameters", []), *item[method].get("parameters", [])]]


def body_schema(op: dict) -> tuple[dict, Any] | None:
    """(schema, example) of a JSON request body."""
    if "requestBody" not in op:
        return None
    media = resolve(op["requestBody"])["content"]["application/json"]
    return resolve(media["schema"]), media["example"]


def body_cases(op: dict) -> list[Case]:
    found = body_schema(op)
    if found is None:
        return []
    schema, example = found
    cases = []
    for name, prop in schema.get("properties", {}).items():
        prop = resolve(prop)
        base = example.get(name, "x") if isinstance(example.get(name), str) else "x"
        if prop.get("type") == "string":
            for label, char in CONTROL_CHARACTERS.items():
                hostile = {**example, name: base[:1] + char + base[1:]}
                cases.append(Case(f"{name}-{label}", {400}, json=hostile, field=f"body.{name}"))
        wrong = dict(WRONG_TYPES) if prop.get("type") == "string" else {"string": "12345x", "list": []}
        if not prop.get("nullable"):
            wrong["null"] = None
        for label, value in wrong.items():
            cases.append(Case(f"{name}-type-{label}", {400}, json={**example, name: value}, field=f"body.{name}"))
    for label, value in {"list": [example], "string": "text", "number": 7}.items():
        cases.append(Case(f"body-{label}", {400}, json=value, field="body"))
    if not schema.get("nullable"):
        cases.append(Case("body-null", {400}, content=b"null", headers=JSON_TYPE, field="body"))
    cases.append(Case("unknown-field", {400}, json={**example, "isAdmin": True}, field="body"))
    for name, prop in schema.get("properties", {}).items():
        if resolve(prop).get("format") == "date":
            cases.append(Case(f"{name}-year-zero", {400}, json={**example, name: "0000-01-01"}, field=f"body.{name}"))
    return cases + media_type_cases(example) + raw_body_cases(example)


def media_type_cases(example: dict) -> list[Case]:
    """Media types are case-insensitive with optional spaces around parameters (RFC 9110): an
    invalid body must be refused by the schema whatever the spelling, never reach a handler."""
    invalid = json.dumps({**example, "isAdmin": True}).encode()
    return [
        Case(f"media-type-{label}", {400}, content=invalid, headers={"Content-Type": spelling}, field="body")
        for label, spelling in MEDIA_TYPE_SPELLINGS.items()
    ]


def raw_body_cases(example: dict) -> list[Case]:
    first = next(iter(example))
    as_json = JSON_TYPE
    duplicate = json.dumps(example)[:-1] + f", {json.dumps(first)}: {json.dumps(example[first])}}}"
    return [
        Case("not-utf8", {400}, content=b'{"' + first.encode() + b'": "\xff\xfe"}', headers=as_json, field="body"),
        Case("duplicate-keys", {400}, content=duplicate.encode(), headers=as_json, field="body"),
        Case("deep-nesting", {400}, content=b"[" * 100_000 + b"]" * 100_000, headers=as_json, field="body"),
        Case("nan", {400}, content=f'{{"{first}": NaN}}'.encode(), headers=as_json, field="body"),
        Case("truncated", {400}, content=json.dumps(example)[:-3].encode(), headers=as_json, field="body"),
        Case("2-mib", {413}, json={**example, first: "a" * TWO_MIB}, code="PAYLOAD_TOO_LARGE"),
        Case("no-content-type", {415}, content=json.dumps(example).encode(), code="UNSUPPORTED_MEDIA_TYPE"),
        Case("text-plain", {415}, content=b"hello", headers={"Content-Type": "text/plain"}),
        Case("form", {415}, content=b"a=1", headers={"Content-Type": "application/x-www-form-urlencoded"}),
    ]


def parameter_cases(path: str, method: str, op: dict) -> list[Case]:
    body = body_schema(op)
    base = {"json": body[1]} if body else {}
    cases = [
        Case("unknown-query", {400}, params={"evil\x00": "1' OR '1'='1"}, **base),
        Case("trailing-slash", {404}, path_suffix="/", code="NOT_FOUND", **base),
        Case("headers-over-32-kib", {431}, headers=OVERSIZED_HEADERS, code="REQUEST_HEADERS_TOO_LARGE", **base),
    ]
    for param in parameters(path, method):
        name, where, schema = param["name"], param["in"], resolve(param["schema"])
        for label, value in hostile_values(schema).items():
            if where == "query":
                cases.append(Case(f"{name}-{label}", {400}, params={name: value}, field=f"query.{name}", **base))
            elif where == "path":  # a "/" in the value leaves the route: no such path
                expect = {400, 404} if "/" in value else {400}
                cases.append(Case(f"{name}-{label}", expect, path_values={name: value}, field=f"path.{name}", **base))
            elif where == "cookie" and value.isprintable() and not COOKIE_UNSAFE & set(value):
                cases.append(Case(f"{name}-{label}", {400}, cookies={name: value}, field=f"cookie.{name}", **base))
        if where == "query" and schema.get("type") != "array":
            twice = [(name, "1"), (name, "2")]
            cases.append(Case(f"{name}-twice", {400}, params=twice, field=f"query.{name}", **base))
        if where == "path":  # a traversal leaves the route altogether: no such path
            cases.append(Case(f"{name}-traversal", {400, 404}, path_values={name: "..%2F..%2Fhealth"}, **base))
    return cases


def hostile_values(schema: dict) -> dict[str, str]:
    """Values the parameter's schema refuses (free text may legitimately hold quotes and tags)."""
    kind = schema.get("type")
    if kind == "integer":
        values = {"huge": "9" * 40, "negative": "-1", "zero": "0", "float": "1.5", "exp": "1e3", "hex": "0x10"}
        values |= {"word": "abc", "nul": "1\x00"}
        if "maximum" in schema:
            values["above-max"] = str(schema["maximum"] + 1)
        return values
    if kind == "boolean":
        return {"word": "maybe", "nul": "tr\x00ue", "number": "2"}
    values = {"nul": "a\x00b", "esc": "a\x1bb", "sql": "' OR '1'='1' --", "script": "<script>alert(1)</script>"}
    if "enum" in schema:
        values["case"] = str(schema["enum"][0]).upper() + "x"
    if "maxLength" in schema:
        values["too-long"] = "a" * (schema["maxLength"] + 1)
    validator = Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    return {label: value for label, value in values.items() if not validator.is_valid(value)}


def jwt_cases(op: dict, role: str, world: World) -> list[Case]:
    if op.get("security", SPEC["security"]) == []:
        return []
    now = int(time.time())
    claims = {"sub": world.users[role], "sid": world.sessions[role], "jti": uuid.uuid4().hex, "iat": now}
    claims |= {"exp": now + 900, "iss": ISSUER, "aud": AUDIENCE}
    secret = world.secret
    tokens = {
        "alg-none": unsigned({"alg": "none", "typ": "JWT"}, claims),
        "alg-none-uppercase": unsigned({"alg": "NONE", "typ": "JWT"}, claims),
        "alg-none-signed": unsigned({"alg": "none"}, claims) + hs256_signature({"alg": "none"}, claims, secret),
        "hs-rs-confusion": hs_signed_as({"alg": "RS256", "typ": "JWT"}, claims, secret),
        "hs512": jwt.encode(claims, secret, algorithm="HS512"),
        "wrong-secret": jwt.encode(claims, "another-secret-that-is-32-bytes-long!", algorithm="HS256"),
        "wrong-audience": jwt.encode({**claims, "aud": "someone-else"}, secret, algorithm="HS256"),
        "wrong-issuer": jwt.encode({**claims, "iss": "evil"}, secret, algorithm="HS256"),
        "sub-not-uuid": jwt.encode({**claims, "sub": "1 OR 1=1"}, secret, algorithm="HS256"),
        "sub-as-number": jwt.encode({**claims, "sub": 1}, secret, algorithm="HS256"),
        "session-of-another-user": jwt.encode({**claims, "sub": str(uuid.uuid4())}, secret),
        "deleted-user": world.deleted_token,
        "revoked-session": world.revoked_token,
        "garbage": "not.a.jwt",
        "huge": "a" * 6000,
    }
    for claim in claims:
        tokens[f"missing-{claim}"] = jwt.encode({k: v for k, v in claims.items() if k != claim}, secret)
    cases = [Case(f"jwt-{name}", {401}, headers={"Authorization": f"Bearer {t}"}) for name, t in tokens.items()]
    expired = jwt.encode({**claims, "iat": now - 1000, "exp": now - 100}, secret, algorithm="HS256")
    cases.append(Case("jwt-expired", {401}, headers={"Authorization": f"Bearer {expired}"}, code="TOKEN_EXPIRED"))
    cases.append(Case("no-authorization", {401}, headers={"Authorization": ""}, code="UNAUTHORIZED"))
    cases.append(Case("basic-scheme", {401}, headers={"Authorization": "Basic b3duZXI6UGFzc3cwcmQh"}))
    body = body_schema(op)
    for case in cases:
        case.code = case.code or "UNAUTHORIZED"
        case.json = body[1] if body else None
    return cases


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned(header: dict, claims: dict) -> str:
    return f"{b64(header)}.{b64(claims)}."


def hs256_signature(header: dict, claims: dict, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{b64(header)}.{b64(claims)}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hs_signed_as(header: dict, claims: dict, secret: str) -> str:
    """A token that claims RS256 but carries a valid HMAC: the key-confusion forgery."""
    return f"{b64(header)}.{b64(claims)}.{hs256_signature(header, claims, secret)}"


# -- running them ---------------------------------------------------------------------------


def snapshot() -> dict[str, list[str]]:
    from models import ALL_MODELS, db

    tables = [model._meta.table_name for model in ALL_MODELS]
    return {table: sorted(map(repr, db.execute_sql(f"SELECT * FROM {table}").fetchall())) for table in tables}


def problems(response, case: Case, op: dict) -> list[str]:
    found = []
    if response.status_code >= 500 or response.status_code not in case.expect:
        found.append(f"status {response.status_code}, expected {sorted(case.expect)}")
    if response.headers.get("content-type") != "application/json":
        return [*found, f"content type {response.headers.get('content-type')!r}"]
    error = response.json().get("error") if isinstance(response.json(), dict) else None
    if not isinstance(error, dict) or set(error) - {"code", "message", "details"} or "message" not in error:
        return [*found, "not the error envelope"]
    if STATUS_BY_CODE.get(error.get("code")) != response.status_code:
        found.append(f"code {error.get('code')} with status {response.status_code}")
    if case.code and error["code"] != case.code:
        found.append(f"code {error['code']}, expected {case.code}")
    if str(response.status_code) not in op["responses"] and response.status_code != 404:
        found.append(f"status {response.status_code} is not documented for the operation")
    named = {detail["field"] for detail in error.get("details", [])}
    if case.field and response.status_code == 400 and not any(f.startswith(case.field) for f in named):
        found.append(f"details {sorted(named)} do not name {case.field}")
    for detail in error.get("details", []):
        if any(sign in detail["message"] for sign in UNSPEAKABLE):
            found.append(f"message {detail['message'][:80]!r} shows a regular expression or echoes the value")
    return found


def send(client, method: str, path: str, case: Case, token: str | None, world: World):
    url = path.format(**world.ids | {name: quote(value, safe="/%") for name, value in case.path_values.items()})
    url += case.path_suffix
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers |= case.headers
    if not headers.get("Authorization"):
        headers.pop("Authorization", None)
    client.cookies.clear()
    for name, value in case.cookies.items():
        client.cookies.set(name, value)
    kwargs = {"json": case.json} if case.content is None and case.json is not None else {"content": case.content}
    return client.request(method.upper(), url, params=case.params, headers=headers, **kwargs)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the HS512 forgery
@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_hostile_input_is_refused_cleanly_and_changes_nothing(client, world, path, method):
    op = SPEC["paths"][path][method]
    role = "admin" if path.startswith(f"{API}/admin") else "user"
    secured = op.get("security", SPEC["security"]) != []
    cases = [*body_cases(op), *parameter_cases(path, method, op), *jwt_cases(op, role, world)]
    assert cases, "every operation has at least the unknown-query case"
    before = snapshot()
    failures = []
    for case in cases:
        response = send(client, method, path, case, world.tokens[role] if secured else None, world)
        found = problems(response, case, op)
        after = snapshot()
        if after != before:
            found.append("data changed: " + ", ".join(t for t in after if after[t] != before[t]))
            before = after
        if found:
            failures.append(f"{case.name}: {'; '.join(found)} — {response.text[:300]}")
    assert not failures, f"{len(failures)} of {len(cases)} cases:\n" + "\n".join(failures)


# -- SQL and script payloads: valid text, kept as given -------------------------------------

PAYLOADS = [
    "Robert'); DROP TABLE projects;--",
    "' OR '1'='1' --",
    '"; SELECT pg_sleep(10); --',
    "<script>alert(document.cookie)</script>",
    '<img src=x onerror="alert(1)">',
    "100% _literal_ \\ wildcards",
    "{{7*7}} ${7*7} #{7*7}",
    "Ωmega ‮gnp.exe 𝕊𝕢𝕝 漢字",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_sql_and_script_payloads_are_stored_and_returned_verbatim(client, accounts, payload):
    from models import Milestone, Project, User

    user = accounts.create()
    auth = accounts.headers_for(user)
    description = f"{payload}\n\tsecond line"
    created = client.post(f"{API}/projects", json={"name": payload, "description": description}, headers=auth)
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == "application/json"
    project = created.json()
    assert (project["name"], project["description"]) == (payload, description)
    fetched = client.get(f"{API}/projects/{project['id']}", headers=auth).json()
    assert (fetched["name"], fetched["description"]) == (payload, description)
    found = client.get(f"{API}/projects", params={"search": payload}, headers=auth).json()
    assert [p["id"] for p in found["data"]] == [project["id"]]  # matched literally, wildcards and all

    milestone = client.post(f"{API}/projects/{project['id']}/milestones", json={"title": payload}, headers=auth)
    assert (milestone.status_code, milestone.json()["title"]) == (201, payload)
    renamed = client.patch(f"{API}/users/me", json={"name": payload[:100]}, headers=auth)
    assert (renamed.status_code, renamed.json()["name"]) == (200, payload[:100])

    assert (Project.select().count(), Milestone.select().count(), User.select().count()) == (1, 1, 1)
    assert Project.get_by_id(project["id"]).name == payload
