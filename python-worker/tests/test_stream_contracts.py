"""Stream contract manifests: their rules (the same as the gateway's), digest and merge."""

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, TEST_CONTRACTS

from notebridge_worker import ContractError, load_contracts
from notebridge_worker.canonical import canonical_schema
from notebridge_worker.contracts import Merge, contract_digest, load_contract
from notebridge_worker.exactjson import dumps

GATEWAY_BIN = Path(os.environ.get("NOTEBRIDGE_BIN") or REPO / "bin" / "notebridge")
TEXT = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
STREAM = {
    "name": "probe",
    "version": 1,
    "mode": "stream",
    "timeout_seconds": 5,
    "request_schema": "../schemas/request.json",
    "chunk_schema": "../schemas/chunk.json",
    "response_schema": "../schemas/response.json",
    "merge": {"concat": "text"},
    "examples": [{"name": "a", "request": {"text": "a"}, "response": {"text": "a"}}],
}
ABSENT = object()


def write(root: Path, **changes: Any) -> Path:
    """Write contract probe v1 (STREAM with ``changes``; ABSENT removes a field)."""
    (root / "schemas").mkdir(parents=True, exist_ok=True)
    (root / "contracts").mkdir(exist_ok=True)
    for name in ("request", "chunk", "response"):
        (root / "schemas" / f"{name}.json").write_bytes(dumps(TEXT))
    manifest = {key: value for key, value in {**STREAM, **changes}.items() if value is not ABSENT}
    (root / "contracts" / "probe.v1.json").write_bytes(dumps(manifest))
    return root / "contracts"


# (changes to STREAM, a problem Python reports, or None when the manifest loads). Each case
# is also linted by the gateway binary, which must agree on whether the manifest is valid.
CASES = {
    "valid": ({}, None),
    "no merge, no response schema": ({"merge": ABSENT, "response_schema": ABSENT}, None),
    "merge needs a response schema": (
        {"response_schema": ABSENT},
        "/response_schema: must be a path relative to the manifest",
    ),
    "collect": (
        {"merge": {"collect": "chunks"}, "examples": [{"name": "a", "request": {"text": "a"}}]},
        None,
    ),
    "no chunk schema": (
        {"chunk_schema": ABSENT},
        "/chunk_schema: missing: a stream contract needs a chunk schema",
    ),
    "merge with both": (
        {"merge": {"concat": "text", "collect": "all"}},
        "/merge: set exactly one of concat and collect",
    ),
    "merge with neither": ({"merge": {}}, "/merge: set exactly one of concat and collect"),
    "merge not an object": ({"merge": "text"}, "/merge: must be an object"),
    "idle timeout": ({"idle_timeout_seconds": 0.5}, None),
    "idle timeout of 0 is the default": ({"idle_timeout_seconds": 0}, None),
    "idle timeout past the timeout": (
        {"idle_timeout_seconds": 6},
        "/idle_timeout_seconds: 6 must be > 0 and <= timeout_seconds",
    ),
    "negative idle timeout": (
        {"idle_timeout_seconds": -1},
        "/idle_timeout_seconds: -1 must be > 0 and <= timeout_seconds",
    ),
    "stream fields in a sync contract": (
        {"mode": "sync", "merge": ABSENT},
        "/mode: chunk_schema, merge and idle_timeout_seconds are for mode 'stream' only",
    ),
    "job fields in a stream contract": (
        {"max_attempts": 2},
        "/mode: max_attempts and ack_wait_seconds are for mode 'job' only",
    ),
    "stream timeout over an hour": ({"timeout_seconds": 3601}, "/timeout_seconds: 3601"),
    "job": (
        {
            "mode": "job",
            "timeout_seconds": 86400,
            "chunk_schema": ABSENT,
            "merge": ABSENT,
            "max_attempts": 100,
            "ack_wait_seconds": 3600,
        },
        None,
    ),
    "job bounds": (
        {
            "mode": "job",
            "chunk_schema": ABSENT,
            "merge": ABSENT,
            "max_attempts": 0,
            "ack_wait_seconds": 3601,
        },
        "/max_attempts: 0 must be >= 1 and <= 100",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_manifest_rules_agree_with_the_gateway(tmp_path: Path, case: str) -> None:
    changes, problem = CASES[case]
    contracts = write(tmp_path, **changes)
    if problem is None:
        load_contracts(contracts)
    else:
        with pytest.raises(ContractError) as raised:
            load_contracts(contracts)
        assert problem in str(raised.value)
    lint = subprocess.run(
        [str(GATEWAY_BIN), "contracts", "lint", "--contracts-dir", str(contracts)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (lint.returncode == 0) == (problem is None), lint.stdout + lint.stderr


def test_a_stream_contract_loads_what_the_worker_needs(tmp_path: Path) -> None:
    contract = load_contract(write(tmp_path, idle_timeout_seconds=1.5) / "probe.v1.json")
    assert (contract.mode, contract.idle_timeout_seconds) == ("stream", 1.5)
    assert contract.merge == Merge(concat="text")
    assert contract.chunk_schema_path == tmp_path / "schemas" / "chunk.json"
    assert contract.chunk_violations({"text": "a"}) == []
    assert [v["instancePath"] for v in contract.chunk_violations({"text": 1})] == ["/text"]
    default = load_contract(write(tmp_path / "default") / "probe.v1.json")
    assert default.idle_timeout_seconds == 10


def test_the_digest_has_a_line_per_schema_role_present(tmp_path: Path) -> None:
    # Distinct schemas (a title would not do: the digest leaves annotations out), so that
    # each role's line names its own file.
    contracts = write(tmp_path, merge=ABSENT, response_schema=ABSENT)
    schemas = tmp_path / "schemas"
    (schemas / "chunk.json").write_bytes(dumps({**TEXT, "maxProperties": 9}))
    request, chunk = (
        hashlib.sha256(canonical_schema((schemas / f"{n}.json").read_bytes())).hexdigest()
        for n in ("request", "chunk")
    )
    text = f"request {request}\nchunk {chunk}\n" + "".join(
        f"{h}\n" for h in sorted({request, chunk})
    )
    expected = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    assert load_contracts(contracts)["probe/v1"].digest == expected
    assert (
        contract_digest(schemas / "request.json", chunk_schema=schemas / "chunk.json") == expected
    )
    # The tokens test contract has all three; testdata/digests.json holds its digest, which
    # the Go tests check too (test_digests_match_the_table_the_go_side_checks_too).
    tokens = load_contracts(TEST_CONTRACTS)["tokens/v1"]
    assert tokens.digest == contract_digest(
        tokens.request_schema_path, tokens.response_schema_path, tokens.chunk_schema_path
    )
    assert tokens.digest != contract_digest(tokens.request_schema_path, tokens.response_schema_path)


def test_merge_joins_or_collects_chunks_as_the_gateway_does() -> None:
    chunks = [{"text": "a", "n": 1}, {"text": "b"}]
    assert Merge(concat="text").apply(chunks) == {"text": "ab"}
    assert Merge(concat="text").apply([]) == {"text": ""}
    assert Merge(collect="chunks").apply(chunks) == {"chunks": chunks}
    assert Merge(collect="chunks").apply([]) == {"chunks": []}
    with pytest.raises(ValueError, match="chunk 2 has no string 'text'"):
        Merge(concat="text").apply([{"text": "a"}, {"text": 5}])
