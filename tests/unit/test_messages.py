"""``web.messages.describe``: each failed keyword becomes a sentence a person can act on, with no
regular expression and no echo of the value; every pattern in the spec declares its sentence."""

from __future__ import annotations

import re

import pytest
from connexion.json_schema import Draft4RequestValidator, resolve_refs
from jsonschema import Draft4Validator

from app import load_spec
from web.messages import UNDECLARED_PATTERN, describe

SPEC = load_spec()
SCHEMAS = resolve_refs(SPEC)["components"]["schemas"]  # as Connexion hands them to the validators
REGEX_SIGNS = re.compile(r"\(\?[=!:<]|\^\[|\[\^|\\[xudsSwWbn]|\$\(|\{\d+,\d*\}|\[[A-Za-z0-9]-[A-Za-z0-9]")
HOSTILE = "<script>alert(1)</script>\x00' OR '1'='1"


def messages(schema: dict, value) -> list[str]:
    validator = Draft4RequestValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    return [describe(error) for error in validator.iter_errors(value)]


def message(schema: dict, value) -> str:
    (only,) = messages(schema, value)
    return only


@pytest.mark.parametrize(
    ("schema", "value", "expected"),
    [
        ({"type": "string"}, 5, "must be a string"),
        ({"type": "integer"}, "x", "must be an integer"),
        ({"type": "number"}, "x", "must be a number"),
        ({"type": "boolean"}, "x", "must be true or false"),
        ({"type": "object"}, [], "must be an object"),
        ({"type": "array"}, {}, "must be an array"),
        ({"type": "string", "nullable": True}, 5, "must be null or a string"),
        ({"type": ["string", "integer"]}, [], "must be a string or an integer"),
        ({"type": "string", "minLength": 8}, "short", "must be at least 8 characters"),
        ({"type": "string", "minLength": 1}, "", "must not be empty"),
        ({"type": "string", "maxLength": 255}, "x" * 256, "must be at most 255 characters"),
        ({"type": "string", "maxLength": 1}, "xy", "must be at most 1 character"),
        ({"type": "integer", "minimum": 1}, 0, "must be at least 1"),
        ({"type": "integer", "maximum": 100}, 1000, "must be at most 100"),
        ({"type": "number", "maximum": 2.0}, 3, "must be at most 2"),
        ({"type": "number", "minimum": 0, "exclusiveMinimum": True}, 0, "must be greater than 0"),
        ({"type": "number", "maximum": 1.5, "exclusiveMaximum": True}, 1.5, "must be less than 1.5"),
        ({"type": "integer", "multipleOf": 5}, 7, "must be a multiple of 5"),
        ({"enum": ["active", "inactive", "archived"]}, "x", "must be one of: active, inactive, archived"),
        ({"enum": ["open", "done"], "nullable": True}, "x", "must be null or one of: open, done"),
        ({"type": "string", "format": "email"}, "nope", "must be a valid email address"),
        ({"type": "string", "format": "date-time"}, "nope", "must be a valid date-time (YYYY-MM-DDThh:mm:ssZ)"),
        ({"type": "object", "required": ["name"]}, {}, "is required"),
        ({"type": "object", "properties": {}, "additionalProperties": False}, {"foo": 1}, "is not a known field"),
        ({"type": "object", "minProperties": 1}, {}, "must have at least one field"),
        ({"type": "object", "minProperties": 2}, {"a": 1}, "must have at least 2 fields"),
        ({"type": "object", "maxProperties": 1}, {"a": 1, "b": 2}, "must have at most 1 field"),
        ({"type": "array", "minItems": 1}, [], "must not be empty"),
        ({"type": "array", "maxItems": 2}, [1, 2, 3], "must have at most 2 items"),
        ({"type": "array", "uniqueItems": True}, [1, 1], "must not repeat an item"),
        ({"type": "string", "pattern": "^[a-z]+$"}, "ABC", UNDECLARED_PATTERN),
        ({"pattern": "^[a-z]+$", "x-pattern-message": "must be lower-case"}, "ABC", "must be lower-case"),
        ({"not": {"type": "string"}}, "x", "is not valid"),
        ({"anyOf": [{"type": "integer"}, {"type": "boolean"}]}, "x", "is not valid"),
    ],
)
def test_each_keyword_has_its_sentence(schema, value, expected):
    assert message(schema, value) == expected


def test_the_format_sentences_for_uuid_and_date_are_ready_for_other_drafts():
    """Draft 4 checks neither (the spec's patterns do), but a stricter checker must still read well."""
    from jsonschema import Draft202012Validator, FormatChecker

    validator = Draft202012Validator({"format": "uuid"}, format_checker=FormatChecker(["uuid"]))
    (error,) = validator.iter_errors("nope")
    assert describe(error) == "must be a valid UUID"


def test_a_password_without_an_upper_case_letter_gets_the_declared_sentence():
    (sentence,) = messages(SCHEMAS["NewPassword"], "password1")
    assert sentence == "must contain an upper-case letter (A to Z) and a digit (0 to 9), and no control characters"
    assert not REGEX_SIGNS.search(sentence)


def every_pattern(node, where="#"):
    """(where, schema) for every schema in the spec with a ``pattern``."""
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield where, node
        for key, child in node.items():
            yield from every_pattern(child, f"{where}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from every_pattern(child, f"{where}/{index}")


PATTERNS = list(every_pattern(SPEC))


def test_the_spec_has_the_patterns_this_checks():
    named = {where.rsplit("/", 1)[-1] for where, _ in PATTERNS}
    assert {"NewPassword", "LoginPassword", "Email", "PersonName", "Title", "Description"} <= named
    assert {"DueDate", "OpaqueToken", "Id"} <= named
    assert len(PATTERNS) >= 12  # and the inline ones: the cursor, `search`, X-Request-ID


@pytest.mark.parametrize(("where", "schema"), PATTERNS, ids=[where for where, _ in PATTERNS])
def test_every_pattern_in_the_spec_declares_a_sentence_without_a_regex(where, schema):
    sentence = schema.get("x-pattern-message")
    assert isinstance(sentence, str), f"{where} has a pattern and no x-pattern-message"
    assert sentence.startswith("must "), sentence
    assert not REGEX_SIGNS.search(sentence), sentence
    assert schema["pattern"] not in sentence


@pytest.mark.parametrize("name", ["NewPassword", "Email", "PersonName", "Title", "DueDate", "OpaqueToken", "Id"])
def test_a_refused_value_is_never_echoed_nor_the_pattern_shown(name):
    for sentence in messages(SCHEMAS[name], HOSTILE):
        assert "script" not in sentence
        assert "OR '1'" not in sentence
        assert not REGEX_SIGNS.search(sentence), sentence


def test_the_regex_signs_would_catch_the_old_messages():
    """The check above is not vacuous: jsonschema's own text trips it."""
    validator = Draft4RequestValidator(SCHEMAS["NewPassword"])
    (error,) = validator.iter_errors("password1")
    assert REGEX_SIGNS.search(error.message)
