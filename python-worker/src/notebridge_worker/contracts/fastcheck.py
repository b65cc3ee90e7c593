"""A validation fast path: proves the common valid document valid without jsonschema.

jsonschema walks the schema for every document, with a resolver, an error iterator and a
validator object per subschema: most of a small request's cost in the worker. A contract's
schemas never change while it is served, so each is compiled once, here, into nested
closures that answer one question: is this value certainly valid? ``True`` is a proof;
``False`` only means "not proven", and the full validator then decides and explains. The Go
gateway splits the work the same way (gateway/contracts/fastpath.go).

A check must never say ``True`` where the full validator finds a violation. So it proves
only what it knows exactly: a keyword it does not implement (``oneOf``, ``not``, ``if``,
``contains``, ``unevaluated*``, ``$dynamicRef``) makes its subschema unprovable; a float,
which stands for a decimal text the worker no longer has, passes a numeric bound only when
it clears it by more than its rounding error, and never proves ``integer``, ``multipleOf``,
``enum``, ``const`` or ``uniqueItems``; a value of any type JSON does not produce (a tuple,
a NaN, a numpy scalar) is not proven. tests/test_fastpath.py checks the promise over every
shipped example, thousands of mutations of them, and the shared conformance table.

:func:`loads` and :func:`dumps` are the matching fast JSON text paths (orjson), each of
which declines what it cannot do the way :mod:`notebridge_worker.exactjson` would.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from notebridge_worker.contracts.dialect import is_multiple
from notebridge_worker.exactjson import ExactNumber, equal, may_leave_domain
from notebridge_worker.re2patterns import compile_re2

if TYPE_CHECKING:
    from referencing._core import Resolver

Check = Callable[[Any], bool]
"""``True``: the value is valid for certain; ``False``: ask the full validator."""

NOT_PARSED: Any = object()
"""What :func:`loads` returns for a document it leaves to the exact parser."""

_ANNOTATION_ONLY = frozenset({"format"})
"""Keywords the contracts' dialect has validators for but does not assert (docs/protocol.md)."""


def proves(check: Check, value: Any) -> bool:
    """``check(value)``, with a value nested too deep for the check's recursion unproven."""
    try:
        return check(value)
    except RecursionError:
        return False


def never(value: Any) -> bool:
    """The check of a schema nothing is proven against."""
    return False


def always(value: Any) -> bool:
    """The check of the ``true`` schema (and of ``{}``)."""
    return True


def compile_check(schema: Any, resolver: Resolver, keywords: Iterable[str]) -> Check:
    """Compile ``schema`` (draft 2020-12) into a check; ``$ref``s resolve with ``resolver``.

    ``keywords`` are those the full validator asserts: any of them this module does not
    implement makes the subschema holding it unprovable; others are ignored, as the full
    validator ignores them.
    """
    return _Compiler(frozenset(keywords) - _ANNOTATION_ONLY).compile(schema, resolver)


def loads(data: bytes) -> Any:
    """``data`` parsed as :func:`exactjson.parse` would, or NOT_PARSED if orjson cannot be sure.

    orjson is strict JSON (no NaN, no BOM, no lone surrogates): whatever it refuses, the exact
    parser then refuses too, or reads in its own way, and explains. A text that may hold a
    number outside the protocol's numeric domain, or an integer past 64 bits (which orjson
    reads as a float where Python's json keeps an int), is left to the exact path too.
    """
    if may_leave_domain(data):
        return NOT_PARSED
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return NOT_PARSED


def dumps(value: Any) -> bytes | None:
    """Compact UTF-8 JSON of a value made only of JSON's own types, or None.

    None means the value holds something else (a tuple, a Decimal, a NaN, an integer past 64
    bits, a key that is not a string), which exactjson.dumps encodes or refuses with a reason.
    """
    if not is_plain(value):
        return None
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return None


def is_plain(value: Any) -> bool:
    """Whether ``value`` is made only of dict, list, str, int, bool, None and floats that are 0
    or normal (the numeric domain of docs/protocol.md: no NaN, infinity or subnormal)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        # What orjson writes (the shortest text that reads back) is in [1e-307, 1e308) exactly
        # when the float is; a NaN fails both comparisons.
        return 1e-307 <= abs(value) < 1e308 or value == 0.0
    if kind is dict:
        return all(type(key) is str and is_plain(item) for key, item in value.items())
    if kind is list:
        return all(is_plain(item) for item in value)
    return False


Kinds = tuple[type, ...]
KeywordChecks = list[tuple[Kinds, Check]]
"""What a keyword asserts: for values of these exact types, this check."""

_NULL = type(None)
_EXACT = (Decimal, ExactNumber)
"""Numbers read with their digits (exact_numbers handlers, and every fallback parse)."""
_NUMBERS = (int, float, *_EXACT)
_KINDS = (str, bool, _NULL, dict, list, *_NUMBERS)
"""The types of the values a JSON document parses into; any other type is not proven."""
_NAMED_KINDS = {
    "string": (str,),
    "boolean": (bool,),
    "null": (_NULL,),
    "object": (dict,),
    "array": (list,),
    "integer": (int, *_EXACT),
    "number": _NUMBERS,
}


class _Compiler:
    def __init__(self, asserted: frozenset[str]) -> None:
        self.unsupported = asserted - frozenset(_KEYWORDS) - {"type"}
        # Compiled $ref targets by their object, so that a recursive schema compiles once
        # and refers to itself through a cell. One document object belongs to one resource,
        # hence to one base URI.
        self.compiled: dict[int, list[Check]] = {}

    def compile(self, schema: Any, resolver: Resolver) -> Check:
        """One check per subschema: the keywords' checks for the value's type, in a loop."""
        if schema is True:
            return always
        if not isinstance(schema, dict):
            return never
        if "$id" in schema or not self.unsupported.isdisjoint(schema):
            # A nested $id moves the base URI $refs resolve against; rather than follow it,
            # such a schema is left to the full validator, as are keywords not implemented.
            return never
        by_kind: dict[type, list[Check]] = {kind: [] for kind in _kinds_of_type(schema)}
        exact_number_check = _integral if _only_integers(schema) else _finite_decimal
        for kind in _EXACT:
            if kind in by_kind:
                by_kind[kind].append(exact_number_check)
        if float in by_kind:
            by_kind[float].append(math.isfinite)
        for keyword, compile_keyword in _KEYWORDS.items():
            if keyword in schema:
                for kinds, check in compile_keyword(self, schema, resolver):
                    for kind in kinds:
                        if kind in by_kind and check is not always:
                            by_kind[kind].append(check)
        return _dispatch({k: tuple(c) for k, c in by_kind.items() if never not in c})

    def ref(self, schema: dict[str, Any], resolver: Resolver) -> Check:
        resolved = resolver.lookup(schema["$ref"])
        target = resolved.contents
        cell = self.compiled.get(id(target))
        if cell is None:
            cell = self.compiled[id(target)] = [never]
            # A document's root may carry $id: it is the base its own $refs resolve against,
            # which the resolver returned by lookup already uses.
            if isinstance(target, dict):
                target = {key: value for key, value in target.items() if key != "$id"}
            cell[0] = self.compile(target, resolved.resolver)
        return lambda value: cell[0](value)


def _kinds_of_type(schema: dict[str, Any]) -> Kinds:
    names = schema.get("type")
    if names is None:
        return _KINDS
    names = [names] if isinstance(names, str) else names
    return tuple(dict.fromkeys(kind for name in names for kind in _NAMED_KINDS.get(name, ())))


def _only_integers(schema: dict[str, Any]) -> bool:
    names = schema.get("type")
    names = [names] if isinstance(names, str) else names or ()
    return "integer" in names and "number" not in names


def _dispatch(by_kind: dict[type, tuple[Check, ...]]) -> Check:
    """A check that runs the checks of the value's exact type; other types are unproven."""
    if not by_kind:
        return never
    checks_of = by_kind.get

    def check(value: Any) -> bool:
        checks = checks_of(type(value))
        if checks is None:
            return False
        # A loop, not all() over a generator: this runs for every value of every request.
        for check_keyword in checks:  # noqa: SIM110
            if not check_keyword(value):
                return False
        return True

    return check


def _finite_decimal(value: Decimal) -> bool:
    return value.is_finite()


def _integral(value: Decimal) -> bool:
    return value.is_finite() and value == value.to_integral_value()


def _enum(compiler: _Compiler, schema: dict[str, Any], resolver: Resolver) -> KeywordChecks:
    allowed = schema["enum"]
    if not isinstance(allowed, list):
        return [(_KINDS, never)]
    return [
        (_EXACT_KINDS, lambda value: any(equal(value, item) for item in allowed)),
        ((float,), never),
    ]


def _const(compiler: _Compiler, schema: dict[str, Any], resolver: Resolver) -> KeywordChecks:
    wanted = schema["const"]
    return [(_EXACT_KINDS, lambda value: equal(value, wanted)), ((float,), never)]


_EXACT_KINDS = tuple(kind for kind in _KINDS if kind is not float)
"""Every type but float, whose decimal text is gone: equality is proven on these only."""


def _bound(keyword: str) -> Callable[[_Compiler, dict[str, Any], Resolver], KeywordChecks]:
    above = keyword in ("minimum", "exclusiveMinimum")
    exclusive = keyword.startswith("exclusive")

    def compile_bound(
        compiler: _Compiler, schema: dict[str, Any], resolver: Resolver
    ) -> KeywordChecks:
        bound = schema[keyword]
        if type(bound) is bool or not isinstance(bound, int | Decimal):
            return [(_NUMBERS, never)]
        near = float(bound)
        if not math.isfinite(near):
            return [(_NUMBERS, never)]
        compare = {
            (True, False): lambda value: value >= bound,
            (True, True): lambda value: value > bound,
            (False, False): lambda value: value <= bound,
            (False, True): lambda value: value < bound,
        }[(above, exclusive)]

        def compare_float(value: float) -> bool:
            # The decimal a float stands for is within half an ulp of it, as the bound is of
            # its float: proven only with room to spare for both.
            margin = math.ulp(value) + math.ulp(near)
            return value - near > margin if above else near - value > margin

        return [((int, *_EXACT), compare), ((float,), compare_float)]

    return compile_bound


def _multiple_of(compiler: _Compiler, schema: dict[str, Any], resolver: Resolver) -> KeywordChecks:

    divisor = schema["multipleOf"]
    if type(divisor) is bool or not isinstance(divisor, int | Decimal):
        return [(_NUMBERS, never)]
    if type(divisor) is int:
        return [
            ((int,), lambda value: value % divisor == 0),
            (_EXACT, lambda value: is_multiple(value, divisor)),
            ((float,), never),
        ]
    return [
        ((int, *_EXACT), lambda value: is_multiple(value, divisor)),
        ((float,), never),
    ]


def _size(
    keyword: str, kind: type
) -> Callable[[_Compiler, dict[str, Any], Resolver], KeywordChecks]:
    at_least = keyword.startswith("min")

    def compile_size(
        compiler: _Compiler, schema: dict[str, Any], resolver: Resolver
    ) -> KeywordChecks:
        limit = schema[keyword]
        if at_least:
            return [((kind,), lambda value: len(value) >= limit)]
        return [((kind,), lambda value: len(value) <= limit)]

    return compile_size


def _searcher(pattern: str) -> Callable[[str], bool]:
    """Whether RE2 finds ``pattern`` in a string. A string that is not valid Unicode text (a
    lone surrogate, which RE2 cannot take) matches no pattern, as in the full validator."""
    search = compile_re2(pattern).search

    def found(value: str) -> bool:
        try:
            return search(value) is not None
        except UnicodeEncodeError:
            return False

    return found


def _pattern(compiler: _Compiler, schema: dict[str, Any], resolver: Resolver) -> KeywordChecks:
    return [((str,), _searcher(schema["pattern"]))]


def _properties(compiler: _Compiler, schema: dict[str, Any], resolver: Resolver) -> KeywordChecks:
    declared = [
        (name, check)
        for name, subschema in schema["properties"].items()
        for check in [compiler.compile(subschema, resolver)]
        if check is not always
    ]
    absent = object()

    def check(value: dict[str, Any]) -> bool:
        for name, check_property in declared:
            item = value.get(name, absent)
            if item is not absent and not check_property(item):
                return False
        return True

    return [((dict,), check)]


def _required(compiler: _Compiler, schema: dict[str, Any], resolver: Resolver) -> KeywordChecks:
    names = frozenset(schema["required"])
    return [((dict,), lambda value: value.keys() >= names)]


def _additional_properties(
    compiler: _Compiler, schema: dict[str, Any], resolver: Resolver
) -> KeywordChecks:
    declared = frozenset(schema.get("properties", ()))
    patterns = [_searcher(pattern) for pattern in schema.get("patternProperties", ())]
    additional = schema["additionalProperties"]
    if additional is False and not patterns:
        return [((dict,), declared.issuperset)]
    check_extra = never if additional is False else compiler.compile(additional, resolver)
    if check_extra is always:
        return []

    def check(value: dict[str, Any]) -> bool:
        for name, item in value.items():
            if name in declared or any(search(name) for search in patterns):
                continue
            if not check_extra(item):
                return False
        return True

    return [((dict,), check)]


def _pattern_properties(
    compiler: _Compiler, schema: dict[str, Any], resolver: Resolver
) -> KeywordChecks:
    patterns = [
        (_searcher(pattern), compiler.compile(subschema, resolver))
        for pattern, subschema in schema["patternProperties"].items()
    ]

    def check(value: dict[str, Any]) -> bool:
        return all(
            check_item(item)
            for name, item in value.items()
            for search, check_item in patterns
            if search(name)
        )

    return [((dict,), check)]


def _property_names(
    compiler: _Compiler, schema: dict[str, Any], resolver: Resolver
) -> KeywordChecks:
    check_name = compiler.compile(schema["propertyNames"], resolver)
    return [((dict,), lambda value: all(check_name(name) for name in value))]


def _dependent_required(
    compiler: _Compiler, schema: dict[str, Any], resolver: Resolver
) -> KeywordChecks:
    dependencies = [
        (name, frozenset(others)) for name, others in schema["dependentRequired"].items()
    ]

    def check(value: dict[str, Any]) -> bool:
        return all(value.keys() >= others for name, others in dependencies if name in value)

    return [((dict,), check)]


def _prefix_items(compiler: _Compiler, schema: dict[str, Any], resolver: Resolver) -> KeywordChecks:
    checks = [compiler.compile(subschema, resolver) for subschema in schema["prefixItems"]]

    def check(value: list[Any]) -> bool:
        return all(check_item(item) for check_item, item in zip(checks, value, strict=False))

    return [((list,), check)]


def _items(compiler: _Compiler, schema: dict[str, Any], resolver: Resolver) -> KeywordChecks:
    check_item = compiler.compile(schema["items"], resolver)
    skip = len(schema.get("prefixItems", ()))
    if check_item is always:
        return []

    def check(value: list[Any]) -> bool:
        for item in value[skip:] if skip else value:  # noqa: SIM110 (as in _dispatch)
            if not check_item(item):
                return False
        return True

    return [((list,), check)]


def _unique_items(compiler: _Compiler, schema: dict[str, Any], resolver: Resolver) -> KeywordChecks:
    if schema["uniqueItems"] is not True:
        return []

    def check(value: list[Any]) -> bool:
        try:
            return len({_identity(item) for item in value}) == len(value)
        except _Unproven:
            return False

    return [((list,), check)]


class _Unproven(Exception):
    pass


def _identity(value: Any) -> Any:
    """A hashable stand-in equal for JSON-equal values (1 and 1.0), distinct for true and 1."""
    kind = type(value)
    if kind is bool or value is None or kind is str:
        return (kind, value)
    if kind is int or (isinstance(value, Decimal) and value.is_finite()):
        return (Decimal, value)
    if kind is list:
        return (list, tuple(_identity(item) for item in value))
    if kind is dict:
        return (dict, frozenset((key, _identity(item)) for key, item in value.items()))
    raise _Unproven


def _all_of(compiler: _Compiler, schema: dict[str, Any], resolver: Resolver) -> KeywordChecks:
    return [(_KINDS, compiler.compile(subschema, resolver)) for subschema in schema["allOf"]]


def _any_of(compiler: _Compiler, schema: dict[str, Any], resolver: Resolver) -> KeywordChecks:
    checks = [compiler.compile(subschema, resolver) for subschema in schema["anyOf"]]
    return [(_KINDS, lambda value: any(check(value) for check in checks))]


def _ref(compiler: _Compiler, schema: dict[str, Any], resolver: Resolver) -> KeywordChecks:
    return [(_KINDS, compiler.ref(schema, resolver))]


_KEYWORDS: dict[str, Callable[[_Compiler, dict[str, Any], Resolver], KeywordChecks]] = {
    # The cheapest and most decisive first.
    "enum": _enum,
    "const": _const,
    "minimum": _bound("minimum"),
    "maximum": _bound("maximum"),
    "exclusiveMinimum": _bound("exclusiveMinimum"),
    "exclusiveMaximum": _bound("exclusiveMaximum"),
    "multipleOf": _multiple_of,
    "minLength": _size("minLength", str),
    "maxLength": _size("maxLength", str),
    "pattern": _pattern,
    "required": _required,
    "additionalProperties": _additional_properties,
    "dependentRequired": _dependent_required,
    "minProperties": _size("minProperties", dict),
    "maxProperties": _size("maxProperties", dict),
    "properties": _properties,
    "patternProperties": _pattern_properties,
    "propertyNames": _property_names,
    "minItems": _size("minItems", list),
    "maxItems": _size("maxItems", list),
    "prefixItems": _prefix_items,
    "items": _items,
    "uniqueItems": _unique_items,
    "allOf": _all_of,
    "anyOf": _any_of,
    "$ref": _ref,
}
