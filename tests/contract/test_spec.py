"""A spec people can trust: the conventions every operation of ``openapi/openapi.yaml`` keeps.

Each operation has an ``operationId``, a summary, a description and a tag; every parameter
an example; documents its 4xx and 500 responses with the error envelope, narrowed to the codes
that status carries; request bodies refuse unknown fields and bound every string; the links
name real operations and parameters. Both served copies are the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from app import SPEC_DIR, SPEC_FILE, load_spec
from web.errors import STATUS_BY_CODE

pytestmark = pytest.mark.contract

SPEC = load_spec()
SPEC_PATH = SPEC_DIR / SPEC_FILE
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
ERROR_SCHEMA = "ErrorResponse"
# The readiness probe's 503 is its own report (`status: down` and each check), by the requirements.
NOT_AN_ERROR = {("GET /health/ready", "503")}


def deref(node: dict) -> dict:
    """Follow local ``$ref``s until a real object."""
    while "$ref" in node:
        target = SPEC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def operations() -> Iterator[tuple[str, dict, dict]]:
    for path, item in SPEC["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method], item


OPERATIONS = list(operations())
IDS = [label for label, _, _ in OPERATIONS]


@pytest.mark.parametrize(("label", "operation", "item"), OPERATIONS, ids=IDS)
def test_operation_is_named_summarised_described_and_tagged(label, operation, item):
    assert operation.get("operationId"), label
    assert operation.get("summary"), label
    assert operation.get("description"), label
    assert operation.get("tags"), label
    assert set(operation["tags"]) <= {tag["name"] for tag in SPEC["tags"]}, label


def error_codes(schema_ref: str) -> list[str]:
    """The codes an error body schema allows; it must be ``ErrorResponse`` or a copy narrowing ``code``."""
    name = schema_ref.removeprefix("#/components/schemas/")
    assert name.endswith(ERROR_SCHEMA), f"{name}: not an error body"
    schema, generic = SPEC["components"]["schemas"][name], SPEC["components"]["schemas"][ERROR_SCHEMA]
    error, generic_error = schema["properties"]["error"], generic["properties"]["error"]
    assert {**schema, "properties": None, "description": None} == {**generic, "properties": None, "description": None}
    assert {**error, "properties": {**error["properties"], "code": None}} == {
        **generic_error,
        "properties": {**generic_error["properties"], "code": None},
    }, f"{name}: differs from {ERROR_SCHEMA} in more than its codes"
    return deref(error["properties"]["code"])["enum"]


@pytest.mark.parametrize(("label", "operation", "item"), OPERATIONS, ids=IDS)
def test_errors_are_documented_with_the_envelope_narrowed_to_their_status(label, operation, item):
    responses = operation["responses"]
    assert any(status.startswith("4") for status in responses), f"{label}: no 4xx documented"
    assert "500" in responses, f"{label}: 500 not documented"
    for status, response in responses.items():
        if status[0] in "45" and (label, status) not in NOT_AN_ERROR:
            media = deref(response).get("content", {}).get("application/json", {})
            codes = error_codes(media.get("schema", {}).get("$ref", ""))
            assert {STATUS_BY_CODE[code] for code in codes} == {int(status)}, f"{label} {status}: {codes}"


def test_error_codes_are_the_servers():
    assert SPEC["components"]["schemas"]["ErrorCode"]["enum"] == list(STATUS_BY_CODE)


@pytest.mark.parametrize(("label", "operation", "item"), OPERATIONS, ids=IDS)
def test_every_parameter_has_an_example(label, operation, item):
    for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
        assert "example" in deref(parameter), f"{label}: {deref(parameter)['name']}"


def test_generated_clients_get_an_absolute_default_server():
    assert SPEC["servers"][0]["url"] == "http://localhost:8000"
    assert SPEC["servers"][0]["description"]


def strings_without_bounds(schema: dict, where: str) -> Iterator[str]:
    schema = deref(schema)
    if schema.get("type") == "string" and not ({"maxLength", "enum", "format"} & set(schema)):
        yield where
    for name, child in schema.get("properties", {}).items():
        yield from strings_without_bounds(child, f"{where}.{name}")
    if "items" in schema:
        yield from strings_without_bounds(schema["items"], f"{where}[]")


@pytest.mark.parametrize(("label", "operation", "item"), OPERATIONS, ids=IDS)
def test_request_bodies_refuse_unknown_fields_and_bound_strings(label, operation, item):
    for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
        schema = deref(media["schema"])
        assert schema.get("additionalProperties") is False, f"{label} {media_type}: unknown fields accepted"
        assert not list(strings_without_bounds(schema, "body")), f"{label}: unbounded strings"
    for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
        assert not list(strings_without_bounds(deref(parameter)["schema"], deref(parameter)["name"])), label


def links() -> Iterator[tuple[str, str, dict]]:
    for label, operation, _ in OPERATIONS:
        for status, response in operation["responses"].items():
            for name, link in deref(response).get("links", {}).items():
                yield f"{label} {status} {name}", label, deref(link)


@pytest.mark.parametrize(("where", "source", "link"), list(links()), ids=[where for where, _, _ in links()])
def test_links_name_real_operations_and_parameters(where, source, link):
    by_id = {operation["operationId"]: (operation, item) for _, operation, item in OPERATIONS}
    assert link["operationId"] in by_id, where
    operation, item = by_id[link["operationId"]]
    declared = {deref(p)["name"] for p in [*item.get("parameters", []), *operation.get("parameters", [])]}
    for name in link.get("parameters", {}):
        location, _, bare = name.rpartition(".")
        # `header.Authorization` carries the new session's token: the security scheme's header.
        assert bare in declared or (location == "header" and bare == "Authorization"), f"{where}: {name}"
    if "requestBody" in link:
        assert "requestBody" in operation, f"{where}: the target takes no body"


def test_spec_has_no_duplicate_keys():
    """PyYAML keeps the last of two equal keys without a word; strict parsers (client generators) refuse."""
    from ruamel.yaml import YAML

    YAML(typ="safe").load(SPEC_PATH.read_text())


def test_the_spec_is_served_as_written(client):
    """The file itself, `$ref`s and all (what client generators need), not a re-resolved copy."""
    served_json = client.get("/api/v1/openapi.json")
    served_yaml = client.get("/api/v1/openapi.yaml")
    assert (served_json.status_code, served_yaml.status_code) == (200, 200)
    assert served_json.headers["content-type"] == "application/json"
    assert served_json.json() == json.loads(json.dumps(SPEC, default=str))
    assert served_yaml.content == SPEC_PATH.read_bytes()
    assert served_json.headers["x-request-id"]
