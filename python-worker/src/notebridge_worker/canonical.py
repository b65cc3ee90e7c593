"""The canonical form of a schema document that the contract digest hashes.

docs/protocol.md, "Contract digest": annotation keywords removed where they are keywords,
object keys sorted by code point, no whitespace, strings escaped one way, numbers as
written. The Go gateway writes the same bytes (gateway/contracts/canonical.go); the shared
vectors in testdata/digest-vectors.json hold both to it.
"""

from __future__ import annotations

import json
from typing import Any

# Keywords that describe a schema without changing what it accepts: a reworded description
# or a new example is not contract drift. default, deprecated, readOnly and writeOnly are
# annotations too, but generated clients act on them, so a change to them counts.
ANNOTATIONS = frozenset({"title", "description", "examples", "$comment"})

# Keywords whose value maps names to schemas: the names are data, the values schemas.
_SUBSCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"}
)

# Keywords whose value is a schema or a list of schemas. Any other keyword's value (enum,
# const, default, ...) is data and is kept as written.
_SUBSCHEMAS = frozenset(
    "items prefixItems additionalItems contains additionalProperties propertyNames "
    "unevaluatedItems unevaluatedProperties not if then else allOf anyOf oneOf "
    "contentSchema".split()
)

_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


class _Number(str):
    """A JSON number, as its source text."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def canonical_schema(raw: bytes) -> bytes:
    """Return the canonical form of the schema document ``raw`` (ValueError if not JSON)."""
    document = json.loads(
        raw.decode("utf-8", "replace"),
        parse_int=_Number,
        parse_float=_Number,
        parse_constant=_reject_constant,
    )
    return _write(strip_annotations(document)).encode()


def strip_annotations(schema: Any) -> Any:
    """Return ``schema`` without its annotation keywords, in it and in every subschema."""
    if not isinstance(schema, dict):
        return schema  # true, false, or not a schema at all
    stripped: dict[str, Any] = {}
    for keyword, value in schema.items():
        if keyword in ANNOTATIONS:
            continue
        if keyword in _SUBSCHEMA_MAPS and isinstance(value, dict):
            stripped[keyword] = {name: strip_annotations(sub) for name, sub in value.items()}
        elif keyword in _SUBSCHEMAS:
            is_list = isinstance(value, list)
            stripped[keyword] = (
                [strip_annotations(s) for s in value] if is_list else strip_annotations(value)
            )
        else:
            stripped[keyword] = value
    return stripped


def _write(value: Any) -> str:
    if isinstance(value, dict):
        members = sorted(((_valid_text(key), item) for key, item in value.items()), key=_first)
        return "{" + ",".join(f"{_string(key)}:{_write(item)}" for key, item in members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_write(item) for item in value) + "]"
    if isinstance(value, _Number):
        return str.__str__(value)
    if isinstance(value, str):
        return _string(_valid_text(value))
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "null"


def _valid_text(text: str) -> str:
    # A lone surrogate (an unpaired "\ud800" escape) becomes U+FFFD, as in Go's decoder.
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _string(text: str) -> str:
    out = ['"']
    for char in text:
        escaped = _SHORT_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif char < " ":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _first(member: tuple[str, Any]) -> str:
    return member[0]
