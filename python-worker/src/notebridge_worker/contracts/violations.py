"""Violations as both sides report them: a JSON pointer, a keyword, a message for a person."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, TypedDict

from jsonschema import (
    ValidationError,
)
from jsonschema.protocols import Validator

from notebridge_worker.contracts.dialect import DEFAULT_DIALECT, shown


class Violation(TypedDict):
    """One way a JSON value breaks a schema, in the shape the gateway's 422 answers use."""

    instancePath: str
    keyword: str
    message: str


def violations(validator: Validator, instance: Any) -> list[Violation]:
    """Return every way ``instance`` breaks the validator's schema, sorted by instancePath.

    Like the Go gateway, each violation is a leaf: an ``anyOf`` that fails reports what is
    wrong in each branch rather than one "is not valid under any" line.
    """
    found = [
        Violation(
            instancePath=json_pointer(error.absolute_path),
            # A false schema fails without a keyword.
            keyword=str(error.validator) if error.validator is not None else "false",
            message=_message(error),
        )
        for error in _leaves(validator.iter_errors(instance))
    ]
    found.sort(key=lambda violation: (violation["instancePath"], violation["keyword"]))
    return found


def explain(violation: Violation, document: str = "request") -> str:
    """One violation as a person reads it: ``summary: expected string, got null at /summary``.

    The line starts with the field at fault (``sentences[2]`` for an array item), or with
    ``document`` ("request", "reply") when the whole document is at fault.
    """
    pointer = violation["instancePath"]
    if not pointer:
        return f"{document}: {violation['message']}"
    tokens = [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]
    label = tokens[-1]
    if label.isdigit() and len(tokens) > 1:
        label = f"{tokens[-2]}[{label}]"
    return f"{label}: {violation['message']} at {pointer}"


def _leaves(errors: Iterable[ValidationError]) -> Iterator[ValidationError]:
    for error in errors:
        if error.context:
            yield from _leaves(error.context)
        else:
            yield error


_JSON_TYPES = ("null", "boolean", "integer", "number", "string", "array", "object")


_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}


_COUNTS = {
    "minLength": ("at least", "character", "characters"),
    "maxLength": ("at most", "character", "characters"),
    "minItems": ("at least", "item", "items"),
    "maxItems": ("at most", "item", "items"),
    "minProperties": ("at least", "property", "properties"),
    "maxProperties": ("at most", "property", "properties"),
}


def _message(error: ValidationError) -> str:
    """What is wrong, in JSON's words: ``expected string, got null``.

    jsonschema's own messages show Python values (``None is not of type 'string'``); a
    researcher reading the worker's log, or a client reading the gateway's answer, thinks in
    JSON. Keywords without a rewording keep jsonschema's message.
    """
    keyword, expected, instance = error.validator, error.validator_value, error.instance
    got = shown(instance)
    if keyword == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        return f"expected {wanted}, got {_json_type(instance)}"
    if keyword == "required":
        # jsonschema reports one error per missing property, named only in its message.
        missing = error.message.removesuffix(" is a required property")
        return f"missing required property {shown(_literal(missing))}"
    if keyword == "enum":
        return f"expected one of {', '.join(shown(value) for value in expected)}; got {got}"
    if keyword == "const":
        return f"expected {shown(expected)}, got {got}"
    if keyword in _BOUNDS:
        return f"expected a number {_BOUNDS[keyword]} {shown(expected)}, got {got}"
    if keyword in _COUNTS:
        bound, one, many = _COUNTS[keyword]
        # maxLength counts code points, as len() does.
        return f"expected {bound} {expected} {one if expected == 1 else many}, got {len(instance)}"
    if keyword == "pattern":
        return f"expected a string matching {shown(expected)}, got {got}"
    if keyword == "multipleOf":
        return f"expected a multiple of {shown(expected)}, got {got}"
    if keyword == "uniqueItems":
        return "expected unique items, got duplicates"
    if keyword is None:
        return f"no value is allowed here, got {got}"
    return error.message


def _json_type(value: Any) -> str:
    for name in _JSON_TYPES:
        if DEFAULT_DIALECT.TYPE_CHECKER.is_type(value, name) or (
            name == "number" and isinstance(value, Decimal)
        ):
            return name
    return type(value).__name__


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def escape_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def json_pointer(path: Iterable[Any]) -> str:
    """An RFC 6901 JSON pointer, "" for the whole document."""
    return "".join(f"/{escape_token(str(part))}" for part in path)
