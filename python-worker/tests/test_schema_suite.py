"""The JSON-Schema-Test-Suite through the worker's production loader and request check.

Every group's schema is loaded as a contract schema is (the steps of load_contract: read the
files, check them, build the validator and the fast check), and every instance goes through
the worker's own request path, ``_checked_request``: orjson and the fast check, then the exact
parse and the full validator. Each test passes, or its group is refused by a rule listed in
testdata/schema-suite.json, or it is a difference listed there; and each invalid instance gets
the violations testdata/schema-suite-violations.json holds, which the gateway reports too
(gateway/contracts/suite_test.go runs the same files).
"""

import dataclasses
import glob
from pathlib import Path
from typing import Any

from conftest import REPO, TEST_CONTRACTS

from notebridge_worker import exactjson
from notebridge_worker._checks import checked_request
from notebridge_worker.contracts import Contract, ContractError, SchemaFiles, load_contract
from notebridge_worker.errors import ErrorReply

SUITE = REPO / "testdata" / "JSON-Schema-Test-Suite"
TESTS = SUITE / "tests" / "draft2020-12"
LIST = exactjson.parse((REPO / "testdata" / "schema-suite.json").read_bytes())
VIOLATIONS = exactjson.parse((REPO / "testdata" / "schema-suite-violations.json").read_bytes())


def load_schema(base: Contract, path: Path) -> Contract:
    """``base`` with the schema in ``path`` as its request schema, or ContractError."""
    files = SchemaFiles.read([path])
    problems = files.problems()
    if problems:
        raise ContractError("\n".join(problems))
    return dataclasses.replace(
        base,
        request_schema_path=path,
        request_validator=files.validator(path),
        request_check=files.fast_check(path),
    )


def judge(contract: Contract, data: bytes, *, exact_numbers: bool) -> list[list[str]] | None:
    """None if the worker accepts ``data`` as a request, else its (instancePath, keyword) pairs."""
    try:
        checked_request(contract, data, exact_numbers)
    except ErrorReply as error:
        found = exactjson.parse(error.body)["violations"]
        return [[violation["instancePath"], violation["keyword"]] for violation in found]
    return None


def test_schema_suite(tmp_path: Path) -> None:
    base = load_contract(TEST_CONTRACTS / "echo.v1.json")
    refused_by = {(file, group): rule for rule in LIST["refused"] for file, group in rule["groups"]}
    differs = {tuple(test) for difference in LIST["differences"] for test in difference["tests"]}
    files = sorted(
        Path(name) for pattern in LIST["run"] for name in glob.glob(str(SUITE / pattern))
    )
    assert files, f"no file matches {LIST['run']}"
    failures: list[str] = []
    seen_groups: set[tuple[str, str]] = set()
    seen_tests: set[tuple[str, str, str]] = set()
    got_violations: dict[str, Any] = {}
    for file in files:
        name = file.relative_to(TESTS).as_posix()
        for index, group in enumerate(exactjson.parse_exact(file.read_bytes())):
            key = (name, group["description"])
            seen_groups.add(key)
            path = tmp_path / f"{file.stem}-{index}.json"
            path.write_bytes(exactjson.dumps(group["schema"]))
            rule = refused_by.get(key)
            try:
                contract = load_schema(base, path)
            except ContractError as error:
                first = str(error).splitlines()[0]
                if rule is None:
                    failures.append(f"{key}: refused, but not listed: {error}")
                elif rule["message"] not in first:
                    failures.append(f"{key}: refused with {first!r}; want rule {rule['rule']}")
                continue
            if rule is not None:
                failures.append(f"{key}: loads, but listed as refused by {rule['rule']}")
                continue
            for test in group["tests"]:
                test_key = (*key, test["description"])
                seen_tests.add(test_key)
                want_valid = test["valid"] != (test_key in differs)
                data = exactjson.dumps(test["data"])
                verdicts = {
                    exact: judge(contract, data, exact_numbers=exact) for exact in (False, True)
                }
                for exact, found in verdicts.items():
                    if (found is None) != want_valid:
                        failures.append(
                            f"{test_key} (exact_numbers={exact}): got {found}; want "
                            f"{'valid' if want_valid else 'violations'}"
                        )
                if verdicts[False] is not None:
                    got_violations[" | ".join(test_key)] = verdicts[False]
    failures.extend(
        f"{key}: listed as refused, but the suite has no such group"
        for key in refused_by.keys() - seen_groups
    )
    failures.extend(
        f"{key}: listed as a difference, but no loaded group has it" for key in differs - seen_tests
    )
    for key in VIOLATIONS.keys() | got_violations.keys():
        got, want = got_violations.get(key), VIOLATIONS.get(key)
        if got != want:
            failures.append(f"{key}: got violations {got}; want {want} (as the gateway reports)")
    assert failures == []
