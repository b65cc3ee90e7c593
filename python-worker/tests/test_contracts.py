"""Loading contracts: digests, RE2 patterns, $refs, examples, and the shared conformance table."""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, REPO_CONTRACTS, TEST_CONTRACTS

from notebridge_worker import ContractError, load_contracts
from notebridge_worker.canonical import canonical_schema
from notebridge_worker.contracts import contract_digest, load_contract
from notebridge_worker.exactjson import dumps, parse, parse_exact

CONFORMANCE = parse_exact((REPO / "testdata" / "conformance.json").read_bytes())


def write_contract(
    root: Path,
    request_schema: Any,
    *,
    examples: list[dict[str, Any]] | None = None,
    extra_schemas: dict[str, Any] | None = None,
    **manifest_fields: Any,
) -> Path:
    """Write a contract "probe" v1 under ``root``; return its contracts directory."""
    (root / "schemas").mkdir(parents=True, exist_ok=True)
    (root / "contracts").mkdir(exist_ok=True)
    schemas = {"request.json": request_schema, "response.json": {}, **(extra_schemas or {})}
    for file_name, schema in schemas.items():
        (root / "schemas" / file_name).write_bytes(dumps(schema))
    manifest = {
        "name": "probe",
        "version": 1,
        "mode": "sync",
        "timeout_seconds": 1,
        "request_schema": "../schemas/request.json",
        "response_schema": "../schemas/response.json",
        "examples": examples or [{"name": "anything", "request": {}}],
        **manifest_fields,
    }
    (root / "contracts" / "probe.v1.json").write_bytes(dumps(manifest))
    return root / "contracts"


def load_error(contracts_dir: Path) -> str:
    with pytest.raises(ContractError) as raised:
        load_contracts(contracts_dir)
    return str(raised.value)


def test_repository_and_test_contracts_load() -> None:
    assert set(load_contracts(REPO_CONTRACTS)) == {
        "summarize/v1",
        "sentiment/v1",
        "iris/v1",
        "generate/v1",
        "report/v1",
        "flowchart/v1",
        "review_analysis/v1",
        "answer/v1",
        "embed/v1",
    }
    test_contracts = load_contracts(TEST_CONTRACTS)
    assert set(test_contracts) == {"echo/v1", "echo/v2", "tokens/v1"}
    assert test_contracts["echo/v2"].deprecated
    assert test_contracts["echo/v1"].timeout_seconds == 2


def test_digests_match_the_table_the_go_side_checks_too() -> None:
    expected = json.loads((REPO / "testdata" / "digests.json").read_text())
    contracts = {**load_contracts(REPO_CONTRACTS), **load_contracts(TEST_CONTRACTS)}
    assert "echo/v1" in expected
    assert {ref: contracts[ref].digest for ref in expected} == expected


def test_canonical_schema_matches_the_vectors_the_go_side_checks_too() -> None:
    vectors = json.loads((REPO / "testdata" / "digest-vectors.json").read_text())["cases"]
    assert len(vectors) >= 10
    for vector in vectors:
        got = canonical_schema(vector["schema"].encode()).decode()
        assert got == vector["canonical"], vector["name"]


@pytest.mark.parametrize(
    ("edit", "same"),
    [
        pytest.param(
            ('"type": "object"', '"description": "what to echo", "type": "object"'),
            True,
            id="description",
        ),
        pytest.param(
            ('"type": "object"', '"examples": [{"text": "hi"}], "type": "object"'),
            True,
            id="examples",
        ),
        pytest.param(
            ('"type": "object"', '"$comment": "c", "title": "T", "type": "object"'),
            True,
            id="title-and-comment",
        ),
        pytest.param(('"type": "object"', '"default": {}, "type": "object"'), False, id="default"),
    ],
)
def test_digest_ignores_annotations(tmp_path: Path, edit: tuple[str, str], same: bool) -> None:
    shutil.copytree(REPO / "testdata", tmp_path / "testdata")
    contracts, schemas = tmp_path / "testdata" / "contracts", tmp_path / "testdata" / "schemas"
    original = load_contracts(contracts)["echo/v1"].digest
    request = schemas / "echo.request.json"
    text = request.read_text()
    assert edit[0] in text
    request.write_text(text.replace(edit[0], edit[1], 1))
    assert (load_contracts(contracts)["echo/v1"].digest == original) is same


def test_digest_covers_the_schema_files_and_nothing_else(tmp_path: Path) -> None:
    shutil.copytree(REPO / "testdata", tmp_path / "testdata")
    contracts, schemas = tmp_path / "testdata" / "contracts", tmp_path / "testdata" / "schemas"
    original = load_contracts(contracts)["echo/v1"].digest

    manifest = contracts / "echo.v1.json"
    manifest.write_text(manifest.read_text().replace("Test contract", "Edited contract"))
    request = schemas / "echo.request.json"
    request.write_bytes(request.read_bytes().replace(b"\n", b"\r\n"))
    assert load_contracts(contracts)["echo/v1"].digest == original

    defs = schemas / "defs.json"  # reached only through a $ref
    defs.write_text(defs.read_text().replace('"maxLength": 64', '"maxLength": 65'))
    changed = load_contracts(contracts)["echo/v1"].digest
    assert changed != original
    assert changed == contract_digest(request, schemas / "echo.response.json")


def test_pattern_must_be_re2(tmp_path: Path) -> None:
    schema = {"properties": {"code": {"type": "string", "pattern": "^(?=a)a$"}}}
    message = load_error(write_contract(tmp_path, schema))
    assert "schemas/request.json#/properties/code/pattern: not RE2: invalid perl operator: (?=" in (
        message
    )


def test_pattern_properties_keys_must_be_re2(tmp_path: Path) -> None:
    schema = {"patternProperties": {"(a)\\1": {"type": "string"}}}
    message = load_error(write_contract(tmp_path, schema))
    assert "schemas/request.json#/patternProperties/(a)\\1: not RE2: invalid escape" in message


def test_patterns_match_as_re2_also_behind_a_ref(tmp_path: Path) -> None:
    digits = {"$schema": "https://json-schema.org/draft/2020-12/schema", "pattern": "^\\d+$"}
    schema = {
        "properties": {"digits": {"$ref": "digits.json"}, "letters": {"pattern": "^\\p{L}+$"}},
        "patternProperties": {"^x_\\d$": {"type": "integer"}},
        "additionalProperties": False,
    }
    contract = load_contract(
        write_contract(tmp_path, schema, extra_schemas={"digits.json": digits}) / "probe.v1.json"
    )
    assert contract.request_violations({"digits": "123", "letters": "héllo", "x_1": 1}) == []
    # Go's \d is ASCII only; Python's re would accept the Arabic-Indic three.
    assert [v["instancePath"] for v in contract.request_violations({"digits": "٣"})] == ["/digits"]
    assert [v["keyword"] for v in contract.request_violations({"x_٣": 1})] == [
        "additionalProperties"
    ]


def test_ref_to_a_missing_file_names_the_referring_file(tmp_path: Path) -> None:
    schema = {"properties": {"text": {"$ref": "missing.json#/$defs/text"}}}
    message = load_error(write_contract(tmp_path, schema))
    assert "schemas/missing.json: No such file or directory" in message
    assert "reached from" in message
    assert "schemas/request.json#/properties/text/$ref" in message


def test_ref_to_a_missing_definition_fails_at_load(tmp_path: Path) -> None:
    schema = {"properties": {"text": {"$ref": "defs.json#/$defs/nowhere"}}}
    defs = {"$defs": {"text": {"type": "string"}}}
    message = load_error(write_contract(tmp_path, schema, extra_schemas={"defs.json": defs}))
    assert (
        "schemas/request.json#/properties/text/$ref: cannot resolve 'defs.json#/$defs/nowhere'"
        in (message)
    )


def test_invalid_schema_names_file_and_pointer(tmp_path: Path) -> None:
    schema = {"properties": {"a": {"type": "strng"}, "b": {"minLength": -1}}}
    message = load_error(write_contract(tmp_path, schema))
    assert "schemas/request.json#/properties/a/type: invalid schema: 'strng' is not valid" in (
        message
    )
    assert "schemas/request.json#/properties/b/minLength: invalid schema: -1 is less than" in (
        message
    )


def test_example_must_match_the_schema(tmp_path: Path) -> None:
    schema = {"type": "object", "required": ["text"]}
    examples = [{"name": "empty", "request": {}}]
    message = load_error(write_contract(tmp_path, schema, examples=examples))
    assert (
        "contracts/probe.v1.json#/examples/0/request ('empty'): request: missing required "
        'property "text"' in message
    )


def test_manifest_fields_are_checked(tmp_path: Path) -> None:
    message = load_error(write_contract(tmp_path, {}, name="Bad Name", mode="batch", extra=1))
    assert "probe.v1.json: /extra: unknown field" in message
    assert "probe.v1.json: /name: 'Bad Name' must match" in message
    assert "probe.v1.json: /mode: 'batch' is not supported; use job, stream, sync" in message


def test_two_manifests_for_one_version_conflict(tmp_path: Path) -> None:
    contracts = write_contract(tmp_path, {})
    shutil.copy(contracts / "probe.v1.json", contracts / "probe.v1.copy.json")
    assert "probe/v1 is also defined by" in load_error(contracts)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    schema = {"properties": {"a": {"pattern": "(?=x)"}, "b": {"type": "strng"}}}
    assert len(load_error(write_contract(tmp_path, schema)).splitlines()) == 2


@pytest.mark.parametrize("case", CONFORMANCE["cases"], ids=lambda case: case["name"])
def test_conformance_verdicts(tmp_path: Path, case: dict[str, Any]) -> None:
    examples = [{"name": "first valid", "request": case["valid"][0]}]
    contracts = write_contract(tmp_path, case["schema"], examples=examples)
    contract = load_contract(contracts / "probe.v1.json")
    wrongly_invalid = [i for i in case["valid"] if contract.request_violations(i)]
    wrongly_valid = [i for i in case["invalid"] if not contract.request_violations(i)]
    assert (wrongly_invalid, wrongly_valid) == ([], [])


@pytest.mark.parametrize("case", CONFORMANCE["violations"], ids=lambda case: case["name"])
def test_conformance_violations(tmp_path: Path, case: dict[str, Any]) -> None:
    examples = [{"name": "valid", "request": case["example"]}]
    contract = load_contract(
        write_contract(tmp_path, case["schema"], examples=examples) / "probe.v1.json"
    )
    found = contract.request_violations(case["instance"])
    # Where the table gives a message, both sides must say it word for word.
    got = [
        [v["instancePath"], v["keyword"], v["message"]][: len(want)]
        for v, want in zip(found, case["want"], strict=False)
    ]
    assert (len(found), got) == (len(case["want"]), case["want"])


@pytest.mark.parametrize("case", CONFORMANCE["invalid_schemas"], ids=lambda case: case["name"])
def test_conformance_invalid_schemas_fail_at_load(tmp_path: Path, case: dict[str, Any]) -> None:
    contracts = write_contract(tmp_path, case["schema"], extra_schemas=case.get("files"))
    first = load_error(contracts).splitlines()[0]
    assert "schemas/request.json" in first
    assert case.get("message", "") in first


def test_violations_are_leaves_sorted_by_pointer(tmp_path: Path) -> None:
    schema = {
        "properties": {
            "z": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "a/b": {"properties": {"~c": {"type": "string"}}},
        }
    }
    contract = load_contract(write_contract(tmp_path, schema) / "probe.v1.json")
    found = contract.request_violations({"z": 1.5, "a/b": {"~c": 1}})
    assert [(v["instancePath"], v["keyword"]) for v in found] == [
        ("/a~1b/~0c", "type"),
        ("/z", "type"),
        ("/z", "type"),
    ]
    assert found[0]["message"] == "expected string, got integer"


def test_json_numbers_keep_every_digit() -> None:
    text = b'{"big":12345678901234567890123,"exact":12345678901234567890.125,"e":1E+400}'
    assert dumps(parse_exact(text)) == text
    assert parse(b'{"x":0.5}') == {"x": 0.5}
    with pytest.raises(ValueError, match="NaN is not a JSON value"):
        parse_exact(b'{"x":NaN}')
