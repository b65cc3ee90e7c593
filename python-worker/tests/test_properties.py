"""Property tests (Hypothesis): random schemas and instances, the fast path against jsonschema.

The fast path may say "not proven" as often as it likes, but never "valid" where the SDK's
full validator (jsonschema, with the RE2 and exact-number rules) finds a violation. Schemas
mix the draft 2020-12 keywords the fast path implements with some it leaves to jsonschema;
instances are drawn toward each schema (its names, shapes and bounds), then changed the way
clients get them wrong, and mix integral decimals (2.0, 1E+2), long integers, numbers outside
the numeric domain and lone surrogates. Hypothesis draws one seed per schema; the runs are
derandomized and keep no example database, so CI sees the same examples on every run, in a
few seconds. Breaking the fast path on purpose (ignoring ``required``, ``additionalProperties:
false``, an ``allOf`` branch, a float's rounding margin, ``integer`` for decimals, or RE2's
refusal of surrogates) makes this test fail.
"""

import json
import random
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notebridge_worker.contracts import SchemaFiles, fastcheck, violations
from notebridge_worker.exactjson import parse_exact

NAME_LIST = ["a", "b", "ab", "x1", "é", ""]
PATTERN_LIST = ["^a", "b$", "^[a-z]+$", "\\d", "^$", "é", "^\\p{L}"]
TYPE_LIST = ["integer", "object", "number", "array", "string", "boolean", "null"]
BOUND_LIST = [
    0,
    1,
    2,
    -1,
    10,
    2**64,
    Decimal("0.5"),
    Decimal("0.1"),
    Decimal("2.0"),
    Decimal("1E+2"),
]
DIVISOR_LIST = [1, 2, 3, Decimal("0.5"), Decimal("0.01"), Decimal("1E+1")]
BOUND_KEYWORDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
DECIMALS = [
    Decimal("0.5"),
    Decimal("2.0"),
    Decimal("1E+2"),
    Decimal("0.1"),
    Decimal("-0.0"),
    Decimal("0.07"),
    Decimal("1.0000000000000000001"),
    Decimal("9007199254740993.0"),
    Decimal("1E-310"),
    Decimal("1E+400"),
]
"""Numbers as clients write them, digit for digit: integral ones too, and some outside the
numeric domain (the fast path must not prove them either)."""
NUMBERS = [*DECIMALS, 0, 1, 2, -1, 7, 2**31, 2**64, -(2**63) - 1, 10**30, 0.5, 1.0, 1e-5, 1e22]
STRINGS = [*NAME_LIST, "abc", "1", "b1", "é😀", "a\n", "\ud800", "a\udc00", "x" * 5]
SCALARS = [None, True, False, *NUMBERS, *STRINGS]

IMPLEMENTED = {
    # keyword: what its value is made of ("schema", "schemas", "named schemas", or a maker)
    "type": lambda rng: rng.choice(TYPE_LIST) if rng.random() < 0.7 else rng.sample(TYPE_LIST, 2),
    "enum": lambda rng: rng.sample(SCALARS, rng.randint(1, 3)),
    "const": lambda rng: rng.choice(SCALARS),
    **{keyword: lambda rng: rng.choice(BOUND_LIST) for keyword in BOUND_KEYWORDS},
    "multipleOf": lambda rng: rng.choice(DIVISOR_LIST),
    **{
        keyword: lambda rng: rng.randint(0, 3)
        for keyword in ("minLength", "maxLength", "minItems", "maxItems")
    },
    **{keyword: lambda rng: rng.randint(0, 3) for keyword in ("minProperties", "maxProperties")},
    "pattern": lambda rng: rng.choice(PATTERN_LIST),
    "required": lambda rng: rng.sample(NAME_LIST, rng.randint(1, 3)),
    "dependentRequired": lambda rng: {rng.choice(NAME_LIST): rng.sample(NAME_LIST, 2)},
    "uniqueItems": lambda rng: rng.random() < 0.8,
    "$ref": lambda rng: rng.choice(["#/$defs/a", "#/$defs/b"]),
    "format": lambda rng: "email",
    "properties": "named schemas",
    "patternProperties": "patterned schemas",
    "additionalProperties": "schema",
    "propertyNames": "schema",
    "prefixItems": "schemas",
    "items": "schema",
    "allOf": "schemas",
    "anyOf": "schemas",
}
"""The draft 2020-12 keywords the fast path implements, and how to make a value of each."""
LEFT_TO_JSONSCHEMA = {
    "oneOf": "schemas",
    "not": "schema",
    "if": "schema",
    "then": "schema",
    "else": "schema",
    "contains": "schema",
    "dependentSchemas": "named schemas",
    "unevaluatedProperties": "schema",
    "unevaluatedItems": "schema",
}
BY_TYPE = {
    "integer": ["multipleOf", "enum", "const", *BOUND_KEYWORDS],
    "number": ["multipleOf", "enum", "const", *BOUND_KEYWORDS],
    "string": ["minLength", "maxLength", "pattern", "enum", "const"],
    "array": ["items", "prefixItems", "minItems", "maxItems", "uniqueItems"],
    "object": [
        "properties",
        "required",
        "additionalProperties",
        "patternProperties",
        "propertyNames",
        "dependentRequired",
        "minProperties",
        "maxProperties",
    ],
}


def random_schema(rng: random.Random, depth: int = 0) -> Any:
    """A small schema: mostly a type and a keyword or two of it, as contracts hold; now and
    then any keywords, those the fast path leaves to jsonschema among them."""
    if depth >= 3 or rng.random() < 0.15:
        return rng.choice([True, False, {}, {"type": rng.choice(TYPE_LIST)}])
    if rng.random() < 0.6:
        kind = rng.choice(sorted(BY_TYPE))
        schema: dict[str, Any] = {"type": kind}
        names = rng.sample(BY_TYPE[kind], rng.randint(1, 2))
    else:
        schema = {}
        every = sorted({**IMPLEMENTED, **LEFT_TO_JSONSCHEMA})
        names = rng.sample(every, rng.randint(1, 3))
    for name in names:
        schema[name] = keyword_value(rng, name, depth)
    return schema


def keyword_value(rng: random.Random, name: str, depth: int) -> Any:
    shape = {**IMPLEMENTED, **LEFT_TO_JSONSCHEMA}[name]
    if name in ("additionalProperties", "items") and rng.random() < 0.4:
        return False  # the commonest value of both in contracts
    if callable(shape):
        return shape(rng)
    count = rng.randint(1, 3)
    if shape == "schema":
        return random_schema(rng, depth + 1)
    if shape == "schemas":
        return [random_schema(rng, depth + 1) for _ in range(count)]
    keys = PATTERN_LIST if shape == "patterned schemas" else NAME_LIST
    return {key: random_schema(rng, depth + 1) for key in rng.sample(keys, count)}


def anything(rng: random.Random, depth: int = 0) -> Any:
    """Any JSON value, small."""
    choice = rng.random()
    if depth < 3 and choice < 0.15:
        return [anything(rng, depth + 1) for _ in range(rng.randrange(4))]
    if depth < 3 and choice < 0.3:
        return {rng.choice(STRINGS): anything(rng, depth + 1) for _ in range(rng.randrange(4))}
    return rng.choice(SCALARS)


def near(rng: random.Random, schema: Any, defs: dict[str, Any], depth: int = 0) -> Any:
    """An instance drawn toward ``schema``: the shapes, names and numbers it asks about, so
    that many instances are valid or nearly valid, with anything at all now and then."""
    if not isinstance(schema, dict) or depth > 5 or rng.random() < 0.1:
        return anything(rng)
    for keyword in ("$ref", "allOf", "anyOf", "oneOf"):
        if keyword in schema and rng.random() < 0.6:
            target = schema[keyword]
            branch = defs[target.rsplit("/", 1)[-1]] if keyword == "$ref" else rng.choice(target)
            return near(rng, branch, defs, depth + 1)
    for keyword in ("enum", "const"):
        if keyword in schema and rng.random() < 0.5:
            return rng.choice(schema["enum"]) if keyword == "enum" else schema["const"]
    names = schema.get("type", ["object", "array", "number", "integer", "string"])
    kind = rng.choice([names] if isinstance(names, str) else names)
    if kind == "object" or "properties" in schema or "required" in schema:
        properties = schema.get("properties", {})
        value = {}
        for name in [
            *properties,
            *schema.get("required", []),
            *schema.get("patternProperties", {}),
        ]:
            if rng.random() < 0.8:
                key = name if name in properties else name.strip("^$\\")
                value[key] = near(rng, properties.get(name, True), defs, depth + 1)
        if rng.random() < 0.3:
            extra = near(rng, schema.get("additionalProperties", True), defs, depth + 1)
            value[rng.choice(NAME_LIST)] = extra
        return value
    if kind == "array" or "items" in schema or "prefixItems" in schema:
        shapes = [*schema.get("prefixItems", []), *[schema.get("items", True)] * 3]
        return [near(rng, shape, defs, depth + 1) for shape in shapes[: rng.randrange(5)]]
    if kind in ("number", "integer"):
        given = [schema[k] for k in (*BOUND_KEYWORDS, "multipleOf") if k in schema]
        spots = [n * m for n in given for m in (1, 2, -1, Decimal("1.0"), Decimal("0.5"))]
        return rng.choice(spots + NUMBERS)
    if kind == "string":
        return rng.choice(STRINGS)
    return rng.choice(SCALARS)


def variant(rng: random.Random, instance: Any) -> Any:
    """``instance`` with one member dropped, added or changed, as clients get them wrong."""
    if isinstance(instance, dict) and instance:
        name = rng.choice(sorted(instance))
        change = rng.random()
        if change < 0.3:
            return {key: value for key, value in instance.items() if key != name}
        if change < 0.5:
            return {**instance, rng.choice(NAME_LIST): anything(rng)}
        return {**instance, name: variant(rng, instance[name])}
    if isinstance(instance, list) and instance:
        index = rng.randrange(len(instance))
        return [*instance[:index], variant(rng, instance[index]), *instance[index + 1 :]]
    return anything(rng)


def encode(value: Any) -> str:
    """JSON text of ``value``: Decimals digit for digit, lone surrogates as \\u escapes."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        members = (f"{json.dumps(key)}:{encode(item)}" for key, item in value.items())
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(item) for item in value) + "]"
    return json.dumps(value)  # ensure_ascii: a lone surrogate is written \ud800


@pytest.fixture(scope="module")
def schema_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


INSTANCES_PER_SCHEMA = 20
"""Each with a variant: instances cost little beside a schema's loading."""
PROFILE = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@PROFILE
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_the_fast_path_never_proves_what_jsonschema_rejects(schema_dir: Path, seed: int) -> None:
    # One seed per example rather than st.randoms(): every call of such a Random is a
    # Hypothesis draw, ten times slower, and the walk from the seed is as reproducible.
    rng = random.Random(seed)
    root = random_schema(rng)
    schema = {
        **(root if isinstance(root, dict) else {"allOf": [root]}),
        "$defs": {"a": random_schema(rng), "b": random_schema(rng)},
    }
    path = schema_dir / "schema.json"
    path.write_text(encode(schema))
    files = SchemaFiles.read([path])
    if files.problems():
        return  # not a schema a contract could hold: the loader refuses it
    validator, check = files.validator(path), files.fast_check(path)
    plan = files.integer_plan(path)
    drawn = [near(rng, schema, schema["$defs"]) for _ in range(INSTANCES_PER_SCHEMA)]
    for instance in [*drawn, *(variant(rng, instance) for instance in drawn)]:
        text = encode(instance).encode()
        exact = parse_exact(text)
        for form in (exact, fastcheck.loads(text)):
            if form is fastcheck.NOT_PARSED or not fastcheck.proves(check, form):
                continue
            try:
                found = violations(validator, parse_exact(text))
            except RecursionError:
                continue  # a schema that refers to itself without descending: no verdict
            assert found == [], f"proved {text!r} valid against {encode(schema)}: {found}"
            if form is not exact and plan is not None:
                # A document proven as orjson read it needs no int conversion (integers.py).
                before = encode(form)
                assert encode(plan(form, parse_exact(text))) == before
