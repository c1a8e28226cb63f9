"""Every ``example`` in the spec is valid against its schema, with OpenAPI 3.0 semantics.

Client authors copy these examples and the docs UI shows them, so a wrong one is a
contract bug. Schema examples are checked against their own schema; media type,
parameter and header examples against the ``schema`` next to them. ``nullable`` and
the formats (``uuid``, ``email``, ``date-time``, ``date``) count: ``OAS30Validator``
with its format checker, on the spec as one document so that ``$ref`` resolves.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from app import load_spec

pytestmark = pytest.mark.contract

SPEC = load_spec()
HTTP_METHODS = ("get", "put", "post", "delete", "patch")


def pointer(path: tuple[str, ...]) -> str:
    return "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in path)


def examples(node: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, object, str]]:
    """(where the example is, the example, the schema it must match) for every example under ``node``."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from examples(item, (*path, str(index)))
        return
    if not isinstance(node, dict):
        return
    # Under a media type, parameter or header the schema sits next to the example; otherwise
    # the example belongs to the schema it is in. (`properties` maps names, never an example.)
    schema_path = (*path, "schema") if "schema" in node else path
    if "example" in node and path[-1:] != ("properties",):
        yield pointer((*path, "example")), node["example"], pointer(schema_path)
    for name, example in (node.get("examples") or {}).items() if path[-1:] != ("properties",) else ():
        yield pointer((*path, "examples", name)), example["value"], pointer(schema_path)
    for key, child in node.items():
        if key not in ("example", "examples"):
            yield from examples(child, (*path, key))


EXAMPLES = list(examples(SPEC))


@pytest.mark.parametrize(("where", "example", "schema"), EXAMPLES, ids=[where for where, _, _ in EXAMPLES])
def test_example_matches_its_schema(where, example, schema):
    validator = OAS30Validator({**SPEC, "$ref": schema}, format_checker=oas30_format_checker)
    errors = validator.iter_errors(example)
    problems = [f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}" for error in errors]
    assert not problems, f"{where} does not match {schema}:\n" + "\n".join(problems)


def test_a_wrong_example_is_caught():
    """The check itself can fail: a project with a malformed id and an unknown field."""
    validator = OAS30Validator({**SPEC, "$ref": "#/components/schemas/Project"}, format_checker=oas30_format_checker)
    wrong = {"id": "not-a-uuid", "name": "x", "description": None, "status": "active", "extra": 1}
    wrong |= {"createdAt": "2026-11-25T10:02:00Z", "updatedAt": "yesterday"}
    assert {e.validator for e in validator.iter_errors(wrong)} >= {"format", "additionalProperties"}


def operations() -> Iterator[tuple[str, dict]]:
    for path, item in SPEC["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


@pytest.mark.parametrize(("label", "operation"), list(operations()), ids=[label for label, _ in operations()])
def test_every_json_body_and_success_response_has_an_example(label, operation):
    json_bodies = list(operation.get("requestBody", {}).get("content", {}).values())
    successes = [
        media
        for status, response in operation["responses"].items()
        if status.startswith("2") and "$ref" not in response
        for media in response.get("content", {}).values()
    ]
    missing = [media.get("schema") for media in [*json_bodies, *successes] if "example" not in media]
    assert not missing, f"{label}: no example for {missing}"
