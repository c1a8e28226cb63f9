"""Request validation that reports every problem, in the error envelope.

Connexion validates requests against the spec but reports only the first
problem, as a string. These subclasses collect all of them as
``[{field, message}]`` and close the holes NOTES.md lists: invalid UTF-8,
duplicate keys, NaN/Infinity and absurd nesting are 400s, never 500s.

``field`` says where (``body.email``, ``query.limit``; a missing or unknown
property is named itself: ``body.name``, ``body.isAdmin``); ``message`` is
``web.messages.describe``'s sentence for the keyword that failed ("must be at
most 100", or a pattern's declared ``x-pattern-message``), never jsonschema's
own text, which quotes the value and the regular expression.

The one module that touches Connexion's private API (the validators' ``_parse``, ``_validate``,
``_validator``, ``_nullable`` and ``_required``: Connexion's documented way to customise validation is to
subclass them); ``tests/unit/test_adapters.py`` pins each name.
"""

from __future__ import annotations

import json
import re
import typing as t

from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem
from connexion.validators import VALIDATOR_MAP as CONNEXION_VALIDATORS
from connexion.validators import JSONRequestBodyValidator, ParameterValidator
from jsonschema import Draft4Validator, ValidationError
from starlette.datastructures import QueryParams

from web.errors import truncate
from web.messages import describe

MAX_ERRORS = 20


class ValidationProblem(BadRequestProblem):
    """A 400 carrying ``details``; rendered by core.errors."""

    def __init__(self, details: list[dict[str, str]]) -> None:
        super().__init__(detail="; ".join(f"{d['field']}: {d['message']}" for d in details))
        self.details = details


def _named(error: ValidationError) -> list[str]:
    """The properties a ``required`` or ``additionalProperties`` error is about, each its own field.
    (jsonschema raises one ``required`` error per missing property without saying which: each lists
    all of them, and ``_details`` drops the repeats.)"""
    instance = error.instance if isinstance(error.instance, dict) else {}
    if error.validator == "required" and isinstance(error.validator_value, list):
        return [str(name) for name in error.validator_value if name not in instance]
    if error.validator == "additionalProperties" and error.validator_value is False:
        known, patterns = error.schema.get("properties", {}), error.schema.get("patternProperties", {})
        unknown = [name for name in instance if name not in known and not any(re.search(p, name) for p in patterns)]
        return [truncate(name, 50) for name in sorted(unknown)]
    return []


def _located(error: ValidationError, prefix: str) -> list[tuple[str, str]]:
    field = ".".join([prefix, *(str(part) for part in error.absolute_path)])
    return [(each, describe(error)) for each in [f"{field}.{name}" for name in _named(error)] or [field]]


def _details(errors: t.Iterable[ValidationError], prefix: str) -> list[dict[str, str]]:
    errors = list(errors)
    # A value failing both its pattern and its format (an ``Email``) gets the pattern's declared sentence only.
    patterned = {tuple(e.absolute_path) for e in errors if e.validator == "pattern"}
    errors = [e for e in errors if not (e.validator == "format" and tuple(e.absolute_path) in patterned)]
    ordered = sorted(errors, key=lambda e: [str(p) for p in e.absolute_path])
    unique = dict.fromkeys(pair for error in ordered for pair in _located(error, prefix))
    return [{"field": field, "message": message} for field, message in unique][:MAX_ERRORS]


def _reject_duplicates(pairs: list[tuple[str, t.Any]]) -> dict:
    keys = [key for key, _ in pairs]
    duplicates = {key for key in keys if keys.count(key) > 1}
    if duplicates:
        raise ValueError(f"duplicate key {truncate(sorted(duplicates)[0], 50)!r}")
    return dict(pairs)


def _reject_constant(name: str) -> t.NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> t.Any:
    """Strict JSON: UTF-8, no duplicate keys, no NaN/Infinity, no lone surrogates; ValueError otherwise."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ValueError("body is not valid UTF-8") from None
    except RecursionError:
        raise ValueError("body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"body is not valid JSON: {exc.msg} at position {exc.pos}") from None
    _reject_lone_surrogates(value)
    return value


def _reject_lone_surrogates(value: t.Any) -> None:
    """``"\\ud800"`` is valid JSON but no character: Python keeps it as a lone surrogate, which
    every later encode (bcrypt, the database drivers) refuses with a 500. One C-speed pass finds it."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("body is not valid Unicode: a \\u escape is an unpaired surrogate") from None


ABSENT = object()  # no body at all, as opposed to a JSON ``null``


class BodyValidator(JSONRequestBodyValidator):
    async def _parse(self, stream: t.AsyncGenerator[bytes, None], scope: t.Any) -> t.Any:  # noqa: ARG002 - Connexion's signature
        raw = b"".join([chunk async for chunk in stream])
        if not raw:
            return None if self._nullable else ABSENT
        try:
            return parse_json(raw)
        except ValueError as exc:
            raise ValidationProblem([{"field": "body", "message": str(exc)}]) from None

    def _validate(self, body: t.Any) -> None:
        if body is ABSENT and not self._required:  # an optional body left out
            return
        if body is None or body is ABSENT:
            raise ValidationProblem([{"field": "body", "message": "a JSON body is required"}])
        errors = list(self._validator.iter_errors(body))
        if errors:
            raise ValidationProblem(_details(errors, "body"))


class ParamValidator(ParameterValidator):
    def validate_request(self, request: t.Any) -> None:
        if self.strict_validation:
            extra = self.validate_query_parameter_list(request, security_params=self.security_query_params)
            if extra:
                raise ValidationProblem(
                    [
                        {"field": f"query.{truncate(name, 50)}", "message": "unknown parameter"}
                        for name in sorted(extra)
                    ][:MAX_ERRORS]
                )
        details = _repeated_scalars(request, self.parameters.get("query", []))
        for location, getter in (
            ("query", lambda p: request.query_params.get(p["name"])),
            ("path", lambda p: request.path_params.get(p["name"].replace("-", "_"))),
            ("header", lambda p: request.headers.get(p["name"])),
            ("cookie", lambda p: request.cookies.get(p["name"])),
        ):
            for param in self.parameters.get(location, []):
                details.extend(self._check(location, param, getter(param)))
        if details:
            raise ValidationProblem(details[:MAX_ERRORS])

    @staticmethod
    def _check(location: str, param: dict, value: t.Any) -> list[dict[str, str]]:
        field = f"{location}.{param['name']}"
        if value is None:
            return [{"field": field, "message": "is required"}] if param.get("required") else []
        schema = param.get("schema", param)
        validator = Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
        return _details(validator.iter_errors(value), field)


def _repeated_scalars(request: t.Any, query_parameters: list[dict]) -> list[dict[str, str]]:
    """A scalar given twice (``?limit=500&limit=1``) is refused: Connexion would keep one, unvalidated."""
    given = QueryParams(request.scope["query_string"])
    return [
        {"field": f"query.{param['name']}", "message": "must be given at most once"}
        for param in query_parameters
        if param.get("schema", param).get("type") != "array" and len(given.getlist(param["name"])) > 1
    ]


VALIDATOR_MAP = {
    "parameter": ParamValidator,
    "body": MediaTypeDict({"*/*json": BodyValidator}),
    "response": CONNEXION_VALIDATORS["response"],
}
