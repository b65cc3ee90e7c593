"""The shared vectors of protocol/vectors, which the gateway's tests check too: manifest rules
(and protocol/manifest.schema.json), stream merging and JSON equality."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import REPO
from jsonschema import Draft202012Validator

from notebridge_worker import exactjson
from notebridge_worker.contracts.manifest import manifest_problems
from notebridge_worker.contracts.model import Merge

VECTORS = REPO / "protocol" / "vectors"
MANIFESTS = json.loads((VECTORS / "manifests.json").read_text())
MERGES = json.loads((VECTORS / "merge.json").read_text())["cases"]
EQUALITIES = json.loads((VECTORS / "json-equality.json").read_text())["cases"]
MANIFEST_SCHEMA = Draft202012Validator(
    json.loads((REPO / "protocol" / "manifest.schema.json").read_text())
)


def manifest(case: dict[str, Any]) -> dict[str, Any]:
    """The case's base manifest with the members of ``with`` set and ``without`` removed."""
    members = {**MANIFESTS["bases"][case["base"]], **case.get("with", {})}
    for name in case.get("without", []):
        members.pop(name, None)
    # Parsed as the loader parses a file: numbers with a fraction stay exact.
    return exactjson.parse_exact(json.dumps(members))


@pytest.mark.parametrize("case", MANIFESTS["cases"], ids=lambda case: case["name"])
def test_manifest_vectors(case: dict[str, Any]) -> None:
    pointers = {problem.split(": ", 1)[0] for problem in manifest_problems(manifest(case))}
    assert sorted(pointers) == sorted(case["problems"])


@pytest.mark.parametrize(
    "case",
    [case for case in MANIFESTS["cases"] if not case.get("beyond_schema")],
    ids=lambda case: case["name"],
)
def test_the_manifest_schema_judges_the_vectors_alike(case: dict[str, Any]) -> None:
    valid = MANIFEST_SCHEMA.is_valid(json.loads(json.dumps(manifest(case), default=float)))
    assert valid == (not case["problems"])


@pytest.mark.parametrize("path", sorted((REPO / "contracts").glob("*.json")), ids=lambda p: p.name)
def test_shipped_manifests_match_the_schema(path: Any) -> None:
    MANIFEST_SCHEMA.validate(json.loads(path.read_text()))


@pytest.mark.parametrize("case", MERGES, ids=lambda case: case["name"])
def test_merge_vectors(case: dict[str, Any]) -> None:
    merge = Merge(**case["merge"])
    chunks = [exactjson.parse_exact(chunk) for chunk in case["chunks"]]
    if case.get("error"):
        with pytest.raises(ValueError, match="cannot merge stream chunks"):
            merge.apply(chunks)
        return
    reply = exactjson.parse_exact(exactjson.dumps(merge.apply(chunks)))
    assert exactjson.equal(reply, exactjson.parse_exact(case["reply"]))


@pytest.mark.parametrize("case", EQUALITIES, ids=lambda case: f"{case['a']} vs {case['b']}")
def test_equality_vectors(case: dict[str, Any]) -> None:
    a, b = exactjson.parse_exact(case["a"]), exactjson.parse_exact(case["b"])
    assert exactjson.equal(a, b) == case["equal"]
    assert exactjson.equal(b, a) == case["equal"]
