"""Schema constructs the gateway and the worker would not load or judge alike.

The gateway validates with Go's jsonschema/v5 and regexp, the worker with Python's jsonschema
and RE2. A few constructs break their agreement: one side resolves, reads or enforces them
differently, or v5 gets them wrong. Both loaders refuse them, with the same words, saying
what to write instead (the Go side is gateway/contracts/portable.go and re2.go).
docs/contracts.md lists them, and testdata/schema-suite.json says which groups of the
JSON-Schema-Test-Suite each one refuses.
"""

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

DIALECTS = {
    "https://json-schema.org/draft/2020-12/schema": "2020-12",
    "https://json-schema.org/draft/2019-09/schema": "2019-09",
    "http://json-schema.org/draft-07/schema": "draft-07",
    "http://json-schema.org/draft-06/schema": "draft-06",
    "http://json-schema.org/draft-04/schema": "draft-04",
}
"""The ``$schema`` values both sides implement alike, without a trailing "#"."""
DEFAULT_DIALECT = "2020-12"
"""The dialect of a schema without ``$schema`` (docs/protocol.md)."""
UNKNOWN_DIALECT = "unknown"

_SCHEMA_KEYWORDS = frozenset(
    {
        "additionalProperties",
        "propertyNames",
        "contains",
        "not",
        "if",
        "then",
        "else",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contentSchema",
        "additionalItems",
        "items",
        "allOf",
        "anyOf",
        "oneOf",
        "prefixItems",
    }
)
"""Keywords whose value is a schema or an array of schemas (``items``, before 2020-12)."""
_SCHEMA_MAP_KEYWORDS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"}
)
"""Keywords whose value is an object of schemas (``dependencies`` may hold name lists)."""
_OTHER_KEYWORDS = frozenset(
    {
        "$schema",
        "$id",
        "id",
        "$ref",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "$recursiveRef",
        "$recursiveAnchor",
        "$vocabulary",
        "$comment",
        "type",
        "enum",
        "const",
        "multipleOf",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxContains",
        "minContains",
        "maxProperties",
        "minProperties",
        "required",
        "dependentRequired",
        "format",
        "contentEncoding",
        "contentMediaType",
        "title",
        "description",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "examples",
    }
)
"""Keywords whose value is not a schema. Any other (unknown) keyword is read as a schema,
since a ``$ref`` may point into it."""
_COUNT_KEYWORDS = frozenset(
    {
        "maxLength",
        "minLength",
        "maxItems",
        "minItems",
        "maxContains",
        "minContains",
        "maxProperties",
        "minProperties",
    }
)
_DYNAMIC_KEYWORDS = {
    "$dynamicRef": "$ref to a $defs entry",
    "$dynamicAnchor": "$anchor",
    "$recursiveRef": "$ref to a $defs entry",
    "$recursiveAnchor": "nothing: $ref the schema itself",
}
"""Dynamic references, and what to write instead."""


def dialect(document: Any) -> str:
    """The dialect a schema document's ``$schema`` names: a value of DIALECTS, or unknown."""
    if not isinstance(document, dict) or "$schema" not in document:
        return DEFAULT_DIALECT
    uri = document["$schema"]
    if not isinstance(uri, str):
        return UNKNOWN_DIALECT
    return DIALECTS.get(uri.removesuffix("#"), UNKNOWN_DIALECT)


def refs(document: Any) -> list[tuple[str, str]]:
    """The pointer and value of every ``$ref`` of a schema document that is a keyword.

    A ``$ref`` inside ``const``, ``enum``, ``default`` or ``examples`` is data, as it is to
    the gateway's compiler.
    """
    walk = _Walk(dialect(document))
    walk.schema(document, "", root=True)
    return walk.refs


def problems(document: Any) -> list[tuple[str, str]]:
    """Every construct of one schema document the two sides would not load or judge alike.

    Each problem is a JSON pointer into the document and what is wrong, in the words the
    gateway uses.
    """
    walk = _Walk(dialect(document))
    if walk.dialect == UNKNOWN_DIALECT:
        walk.refuse(
            "/$schema",
            f"$schema {_show(document['$schema'])} is not a dialect both the gateway and the "
            "worker implement: leave $schema out for draft 2020-12, or use "
            "https://json-schema.org/draft/2019-09/schema or "
            "http://json-schema.org/draft-07/schema#, -06 or -04",
        )
    walk.schema(document, "", root=True)
    return walk.found


class _Walk:
    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.found: list[tuple[str, str]] = []
        self.refs: list[tuple[str, str]] = []

    def refuse(self, pointer: str, message: str) -> None:
        self.found.append((pointer, message))

    def schema(self, schema: Any, pointer: str, *, root: bool = False) -> None:
        if not isinstance(schema, dict):
            return  # true, false, or not a schema: the meta-schema decides
        for keyword in sorted(schema):
            value, at = schema[keyword], f"{pointer}/{escape(keyword)}"
            self.keyword(keyword, value, at, root)
            self.descend(keyword, value, at)

    def keyword(self, keyword: str, value: Any, at: str, root: bool) -> None:
        if keyword == "$schema" and not root:
            self.refuse(
                at,
                "$schema is allowed only at the top of a schema file: a contract's schema files "
                "share one dialect; remove it here",
            )
        elif keyword == "$id" or (keyword == "id" and self.dialect == "draft-04"):
            self.refuse(
                at,
                f"{keyword} is not supported: a contract schema is known by its file; remove "
                f"{keyword}, and $ref other files by their path relative to this one "
                '("common.json#/$defs/name")',
            )
        elif keyword == "$ref":
            self.ref(value, at)
        elif keyword in _DYNAMIC_KEYWORDS:
            self.refuse(
                at,
                f"{keyword} is not supported (the gateway's validator resolves dynamic "
                f"references wrongly): use {_DYNAMIC_KEYWORDS[keyword]}",
            )
        elif keyword == "enum":
            if value == []:
                self.refuse(
                    at, "enum [] allows no value: write false for a schema that nothing may match"
                )
        elif keyword in _COUNT_KEYWORDS:
            self.count(keyword, value, at)
        elif keyword == "dependencies" and self.dialect in ("2020-12", "2019-09"):
            self.refuse(
                at,
                f"dependencies is not a keyword of draft {self.dialect} (the gateway would enforce "
                "it, the worker ignore it): use dependentRequired for property names and "
                "dependentSchemas for schemas",
            )
        # pattern and patternProperties are compiled as RE2 by the meta-schema check.

    def descend(self, keyword: str, value: Any, at: str) -> None:
        if keyword in _SCHEMA_MAP_KEYWORDS:
            if isinstance(value, dict):
                for name in sorted(value):
                    self.schema(value[name], f"{at}/{escape(name)}")
        elif keyword in _SCHEMA_KEYWORDS or keyword not in _OTHER_KEYWORDS:
            if isinstance(value, dict):
                self.schema(value, at)
            elif isinstance(value, list):
                for index, subschema in enumerate(value):
                    self.schema(subschema, f"{at}/{index}")

    def ref(self, ref: Any, at: str) -> None:
        # A place in this file ("#...") or in a file relative to it. Anything else (a URI with
        # a scheme, an absolute path, a query or an escaped character) the two sides and the
        # digest would each resolve in their own way, or not at all.
        if not isinstance(ref, str):
            return
        self.refs.append((at, ref))
        file_part = ref.split("#", 1)[0]
        if any(c in file_part for c in ":?%\\") or file_part.startswith("/"):
            self.refuse(
                at,
                f"$ref {_show(ref)} is not a path relative to this file: notebridge reads no "
                "schema by URL or absolute path; copy the schema into a file beside this one "
                'and $ref it as "file.json#/pointer"',
            )

    def count(self, keyword: str, value: Any, at: str) -> None:
        # Python reads 2.0 as a decimal, which its meta-schema refuses, where Go accepts it.
        if not isinstance(value, Decimal | float):
            return
        literal = str(value)
        instead = ""
        if "E" not in literal and "e" not in literal and value == int(value):
            instead = f": write {int(value)}"
        self.refuse(
            at,
            f"{keyword} {literal}: a count is written as a whole number, without a fraction or "
            f"an exponent{instead}",
        )


def unknown_class_problem(pattern: str) -> str | None:
    r"""Why RE2 and Go would not read ``pattern`` alike, beyond what RE2 itself refuses.

    Go refuses RE2's ``\C`` (any byte); the names of ``\p`` classes Go knows and RE2 does not,
    RE2 refuses by itself.
    """
    for escaped in _escapes(pattern):
        if escaped == "C":
            return r"\C (any byte) is not supported by Go's regexp"
    return None


def _escapes(pattern: str) -> Iterator[str]:
    r"""The characters after each backslash of a pattern, outside ``\Q...\E``."""
    index = 0
    while index < len(pattern) - 1:
        if pattern[index] != "\\":
            index += 1
            continue
        escaped = pattern[index + 1]
        if escaped == "Q":
            end = pattern.find("\\E", index + 2)
            if end < 0:
                return
            index = end + 2
            continue
        yield escaped
        index += 2


def escape(token: str) -> str:
    """One JSON pointer reference token."""
    return token.replace("~", "~0").replace("/", "~1")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
