"""The validation fast path proves common documents valid and never anything jsonschema rejects."""

import math
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, REPO_CONTRACTS, TEST_CONTRACTS
from test_contracts import CONFORMANCE, write_contract

from notebridge_worker import Worker, load_contracts
from notebridge_worker.contracts import Contract, SchemaFiles, fastcheck, load_contract
from notebridge_worker.exactjson import dumps, parse, parse_exact
from notebridge_worker.testing import CallError, TestClient

BENCH_CONTRACTS = REPO / "bench" / "contracts"


def shipped_contracts() -> list[Contract]:
    contracts: list[Contract] = []
    for directory in (REPO_CONTRACTS, TEST_CONTRACTS, BENCH_CONTRACTS):
        contracts.extend(load_contracts(directory).values())
    return contracts


def documents(contract: Contract) -> list[tuple[str, Any, Any]]:
    """(role, exact value, fast check) for each example request and reply of a contract."""
    found = []
    for example in contract.examples:
        found.append(("request", example.request, contract.request_check))
        if example.response is not None and contract.response_validator is not None:
            found.append(("response", example.response, contract.response_check))
    return found


def full_violations(contract: Contract, role: str, value: Any) -> list[Any]:
    if role == "request":
        return contract.request_violations(value)
    return contract.response_violations(value)


def test_fast_path_proves_every_shipped_example_valid() -> None:
    unproven = [
        (contract.ref, role, value)
        for contract in shipped_contracts()
        for role, value, check in documents(contract)
        # As received (exact numbers) and as orjson reads the same text (floats).
        for form in (value, fastcheck.loads(dumps(value)))
        if form is not fastcheck.NOT_PARSED and not check(form)
    ]
    assert unproven == []


def test_fast_path_never_proves_what_jsonschema_rejects() -> None:
    rng = random.Random(7)
    proven = unproven = 0
    for contract in shipped_contracts():
        for role, example, check in documents(contract):
            for _ in range(300):
                text = dumps(mutate(rng, example, 3))
                exact = parse_exact(text)
                forms = [(exact, text), (fastcheck.loads(text), None)]
                for value, _ in forms:
                    if value is fastcheck.NOT_PARSED:
                        continue
                    if not fastcheck.proves(check, value):
                        unproven += 1
                        continue
                    proven += 1
                    # What the worker would send: the fast encoder's bytes, read exactly.
                    sent = fastcheck.dumps(value) or dumps(value)
                    found = full_violations(contract, role, parse_exact(sent))
                    assert found == [], f"{contract.ref} {role}: proved {sent!r}, but {found}"
    assert proven >= 100, f"got {proven} proven documents; want at least 100"
    assert unproven >= 100, f"got {unproven} unproven documents; want at least 100"


@pytest.mark.parametrize("case", CONFORMANCE["cases"], ids=lambda case: case["name"])
def test_fast_path_proves_no_invalid_instance_of_the_conformance_table(
    tmp_path: Path, case: dict[str, Any]
) -> None:
    examples = [{"name": "first valid", "request": case["valid"][0]}]
    contract = load_contract(
        write_contract(tmp_path, case["schema"], examples=examples) / "probe.v1.json"
    )
    proven_invalid = [
        instance
        for instance in case["invalid"]
        for form in (instance, fastcheck.loads(dumps(instance)))
        if form is not fastcheck.NOT_PARSED and contract.request_check(form)
    ]
    assert proven_invalid == []


@pytest.mark.parametrize(
    ("schema", "text", "proven"),
    [
        # Floats stand for decimal text they no longer have: proven only with room to spare.
        ({"maximum": 0.1}, b"0.1", False),
        ({"maximum": 0.1}, b"0.09", True),
        ({"maximum": 1}, b"1.00000000000000001", False),
        ({"minimum": 0, "maximum": 1}, b"0.875", True),
        ({"exclusiveMinimum": 0}, b"0", False),
        ({"exclusiveMinimum": 0}, b"1", True),
        ({"type": "integer"}, b"1.0", False),
        ({"type": "integer"}, b"1", True),
        ({"type": "number"}, b"1.5", True),
        ({"multipleOf": 0.01}, b"0.07", False),
        ({"multipleOf": 0.01}, b"7", True),
        ({"multipleOf": 2}, b"6", True),
        ({"multipleOf": 2}, b"7", False),
        ({"enum": [1, "one"]}, b"1", True),
        ({"enum": [1, "one"]}, b"true", False),
        ({"enum": [0.5]}, b"0.5", False),
        ({"const": {"a": [1, None]}}, b'{"a":[1,null]}', True),
        ({"uniqueItems": True}, b"[1, true, [1], {}]", True),
        ({"uniqueItems": True}, b"[[1], [1]]", False),
        ({"uniqueItems": True}, b"[0.5, 0.25]", False),
        # Keywords the fast path does not implement are left to jsonschema.
        ({"oneOf": [{"type": "string"}]}, b'"a"', False),
        ({"not": {"type": "string"}}, b"1", False),
        ({"properties": {"a": {"if": {}}}}, b'{"b": 1}', True),
        ({"properties": {"a": {"if": {}}}}, b'{"a": 1}', False),
        ({"format": "email"}, b'"not an email"', True),
        ({"x-vendor": "ignored"}, b"1", True),
        # RE2, unanchored, and lengths in code points.
        ({"pattern": "^[a-z]+$"}, b'"abc"', True),
        ({"pattern": "^[a-z]+$"}, b'"abc\\n"', False),
        ({"maxLength": 1}, '"😀"'.encode(), True),
        ({"additionalProperties": False, "patternProperties": {"^x-": {}}}, b'{"x-a": 1}', True),
        ({"additionalProperties": False}, b'{"a": 1}', False),
        ({"prefixItems": [{"type": "string"}], "items": {"type": "integer"}}, b'["a", 1]', True),
        ({"prefixItems": [{"type": "string"}], "items": {"type": "integer"}}, b'["a", "b"]', False),
        ({"dependentRequired": {"a": ["b"]}}, b'{"a": 1}', False),
        ({"$ref": "#/$defs/n", "$defs": {"n": {"type": "integer"}}}, b"3", True),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, b"null", True),
    ],
)
def test_fast_path_verdicts(
    tmp_path: Path, schema: dict[str, Any], text: bytes, proven: bool
) -> None:
    value = fastcheck.loads(text)
    assert value is not fastcheck.NOT_PARSED
    assert check_of(tmp_path, schema)(value) is proven


def check_of(tmp_path: Path, schema: dict[str, Any]) -> fastcheck.Check:
    path = tmp_path / "schema.json"
    path.write_bytes(dumps(schema))
    return SchemaFiles.read([path]).fast_check(path)


def test_a_recursive_schema_compiles_and_deep_values_are_left_to_jsonschema(
    tmp_path: Path,
) -> None:
    schema = {"$defs": {"tree": {"type": "array", "items": {"$ref": "#/$defs/tree"}}}}
    schema["$ref"] = "#/$defs/tree"
    check = check_of(tmp_path, schema)
    assert check([[], [[]]]) is True
    assert check([[], [1]]) is False
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    assert fastcheck.proves(check, deep) is False


def test_loads_leaves_long_integers_and_non_json_to_the_exact_parser() -> None:
    assert fastcheck.loads(b'{"n": 123456789012345678901234}') is fastcheck.NOT_PARSED
    assert fastcheck.loads(b"1e400") is fastcheck.NOT_PARSED
    assert fastcheck.loads(b"NaN") is fastcheck.NOT_PARSED
    assert fastcheck.loads(b"\xef\xbb\xbf{}") is fastcheck.NOT_PARSED
    assert fastcheck.loads(b'{"n": 12, "s": "x"}') == parse(b'{"n": 12, "s": "x"}')


@pytest.mark.parametrize(
    "value",
    [float("nan"), [float("inf")], (1, 2), {1: "a"}, Decimal("1.5"), 2**64, {"a": {1, 2}}],
    ids=repr,
)
def test_dumps_declines_what_is_not_plain_json(value: Any) -> None:
    assert fastcheck.dumps(value) is None


def test_dumps_writes_what_exactjson_writes() -> None:
    value = {"s": "é\u2028<", "n": [1, -0.0, 0.875, 1e22, True, None]}
    assert parse(fastcheck.dumps(value) or b"") == parse(dumps(value))


def test_a_nan_in_an_unconstrained_field_of_a_reply_is_still_a_broken_reply() -> None:
    """The fast encoder would write a NaN as null: the exact path must see it instead."""
    worker = Worker(name="nan", contracts_dir=TEST_CONTRACTS)

    @worker.handler("echo", version=1)
    async def echo(request: dict[str, Any]) -> dict[str, Any]:
        return {"text": request["text"], "n": math.nan}

    with pytest.raises(CallError) as raised:
        TestClient(worker).call("echo", {"text": "hi"})
    assert raised.value.code == "invalid_reply"


def test_handlers_get_long_integers_as_int() -> None:
    worker = Worker(name="ints", contracts_dir=TEST_CONTRACTS)
    seen: list[Any] = []

    @worker.handler("echo", version=1)
    async def echo(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(request["n"])
        return request

    reply = TestClient(worker).call("echo", {"text": "n", "n": 123456789012345678901234})
    assert (seen, reply["n"]) == ([123456789012345678901234], 123456789012345678901234)


def mutate(rng: random.Random, value: Any, depth: int) -> Any:
    """A copy of ``value`` with up to ``depth`` random changes of the kinds clients make."""
    if depth == 0 or rng.random() < 0.2:
        return random_value(rng) if rng.random() < 0.5 else value
    if isinstance(value, dict):
        copy = dict(value)
        choice = rng.random()
        if copy and choice < 0.25:
            del copy[rng.choice(list(copy))]
        elif choice < 0.4:
            copy[rng.choice(["x", "extra", "n", "text", "id"])] = random_value(rng)
        elif copy:
            key = rng.choice(list(copy))
            copy[key] = mutate(rng, copy[key], depth - 1)
        return copy
    if isinstance(value, list):
        copy = list(value)
        choice = rng.random()
        if copy and choice < 0.25:
            copy.pop(rng.randrange(len(copy)))
        elif choice < 0.4:
            copy.append(random_value(rng))
        elif copy:
            index = rng.randrange(len(copy))
            copy[index] = mutate(rng, copy[index], depth - 1)
        return copy
    return random_value(rng)


def random_value(rng: random.Random) -> Any:
    return rng.choice(
        [
            None,
            True,
            False,
            0,
            -1,
            1,
            7,
            2**31,
            -(2**40),
            Decimal("0.5"),
            Decimal("1.0"),
            Decimal("0.1"),
            Decimal("1.0000000000000000001"),
            Decimal("-0.0"),
            Decimal("1E+2"),
            Decimal("0.07"),
            "",
            "a",
            "positive",
            "x" * 300,
            "😀" * 40,
            [],
            ["a"],
            [1, 1],
            {},
            {"text": "t"},
        ]
    )
