"""Validation messages that speak to people: one short sentence per failed schema keyword.

``describe`` reads the keyword that failed (``error.validator``) and the constraint the schema
gave it (``error.validator_value``, ``error.schema``), never the rejected value: a message echoes
nothing the client sent and never shows a regular expression. A ``pattern`` says what it requires
through the sentence the spec declares next to it (``x-pattern-message``). Where the problem is
(the ``field``) is ``web.validation``'s business.
"""

from __future__ import annotations

import typing as t

from jsonschema import ValidationError

PATTERN_MESSAGE = "x-pattern-message"
UNDECLARED_PATTERN = "is not in the expected format"
GENERIC = "is not valid"

TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "an array",
    "null": "null",
}
FORMATS = {
    "email": "a valid email address",
    "uuid": "a valid UUID",
    "date": "a valid date (YYYY-MM-DD)",
    "date-time": "a valid date-time (YYYY-MM-DDThh:mm:ssZ)",
}


def describe(error: ValidationError) -> str:
    """The sentence for one failed keyword, to follow the field's name: "must be at least 8 characters"."""
    keyword, value, schema = error.validator, error.validator_value, error.schema
    schema = schema if isinstance(schema, dict) else {}
    nullable = bool(schema.get("nullable") or schema.get("x-nullable"))
    match keyword:
        case "type":
            names = [value] if isinstance(value, str) else list(value)
            names = ["null", *names] if nullable and "null" not in names else names
            return "must be " + _either([TYPES.get(name, name) for name in names])
        case "enum":
            return ("must be null or one of: " if nullable else "must be one of: ") + ", ".join(map(_text, value))
        case "format":
            return "must be " + FORMATS.get(value, f"in the {value} format")
        case "pattern":
            return schema.get(PATTERN_MESSAGE) or UNDECLARED_PATTERN
        case "minLength":
            return "must not be empty" if value == 1 else f"must be at least {_count(value, 'character')}"
        case "maxLength":
            return f"must be at most {_count(value, 'character')}"
        case "minimum":
            return f"must be {'greater than' if schema.get('exclusiveMinimum') else 'at least'} {_text(value)}"
        case "maximum":
            return f"must be {'less than' if schema.get('exclusiveMaximum') else 'at most'} {_text(value)}"
        case "multipleOf":
            return f"must be a multiple of {_text(value)}"
        case "minItems":
            return "must not be empty" if value == 1 else f"must have at least {_count(value, 'item')}"
        case "maxItems":
            return f"must have at most {_count(value, 'item')}"
        case "uniqueItems":
            return "must not repeat an item"
        case "minProperties":
            return "must have at least one field" if value == 1 else f"must have at least {_count(value, 'field')}"
        case "maxProperties":
            return f"must have at most {_count(value, 'field')}"
        case "required":
            return "is required"
        case "additionalProperties":
            return "is not a known field"
    return GENERIC


def _either(options: list[str]) -> str:
    """``a, b or c``."""
    return options[0] if len(options) == 1 else ", ".join(options[:-1]) + " or " + options[-1]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _text(value: t.Any) -> str:
    """A constraint from the spec as a person writes it: ``1`` for ``1.0``, ``null`` for ``None``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return str(value)
