"""Composed contracts in the SDK: the compose member is loaded and checked (the shared cases are
protocol/vectors/manifests.json's), and no worker serves such a contract."""

import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, REPO_CONTRACTS, TEST_CONTRACTS

from notebridge_worker import ContractError, Worker, load_contracts
from notebridge_worker.contracts.compose import parse_pointer
from notebridge_worker.contracts.manifest import manifest_problems
from notebridge_worker.exactjson import dumps
from notebridge_worker.testing import TestClient

COMPOSE = {
    "steps": [
        {
            "name": "twice",
            "parallel": [
                {"name": "first", "call": "echo/v1", "into": "/first"},
                {"name": "second", "call": "echo/v1", "into": "/second", "attempts": 2},
            ],
        }
    ]
}
REFUSAL = "echoes/v1 is composed at the gateway from other contracts; no worker serves it"


def composed_manifest(**fields: Any) -> dict[str, Any]:
    """A composed contract "echoes" v1 over echo/v1, beside the test contracts."""
    return {
        "name": "echoes",
        "version": 1,
        "mode": "sync",
        "timeout_seconds": 2,
        "request_schema": "../schemas/echo.request.json",
        "response_schema": "../schemas/echo.response.json",
        "compose": COMPOSE,
        "examples": [{"name": "hello", "request": {"text": "hello"}}],
        **fields,
    }


@pytest.fixture
def contracts_dir(tmp_path: Path) -> Path:
    """The test contracts and their schemas, with the composed echoes/v1 among them."""
    shutil.copytree(TEST_CONTRACTS, tmp_path / "contracts")
    shutil.copytree(REPO / "testdata" / "schemas", tmp_path / "schemas")
    (tmp_path / "contracts" / "echoes.v1.json").write_bytes(dumps(composed_manifest()))
    return tmp_path / "contracts"


def echo(request: dict[str, Any]) -> dict[str, Any]:
    return request


def test_a_composed_contract_loads_with_its_compose_member(contracts_dir: Path) -> None:
    contracts = load_contracts(contracts_dir)
    assert contracts["echoes/v1"].composed
    assert contracts["echoes/v1"].compose == COMPOSE
    assert not contracts["echo/v1"].composed
    assert contracts["echo/v1"].compose is None


def test_the_shipped_composed_contract_loads() -> None:
    contract = load_contracts(REPO_CONTRACTS)["review_analysis/v1"]
    assert contract.composed
    assert [step["name"] for step in contract.compose["steps"]] == ["analysis", "sentences"]


@pytest.mark.parametrize(
    "register",
    [
        lambda worker: worker.handler("echoes")(echo),
        lambda worker: worker.add_handler("echoes", echo, version=1),
        lambda worker: worker.check("echoes")(lambda reply: []),
    ],
    ids=["handler", "add_handler", "check"],
)
def test_a_worker_refuses_to_serve_a_composed_contract(contracts_dir: Path, register: Any) -> None:
    worker = Worker(name="refuses", contracts_dir=contracts_dir)
    with pytest.raises(ContractError) as raised:
        register(worker)
    assert str(raised.value) == REFUSAL
    assert worker.served == []


def test_a_worker_serves_the_other_contracts_beside_a_composed_one(contracts_dir: Path) -> None:
    worker = Worker(name="beside", contracts_dir=contracts_dir)
    worker.add_handler("echo", echo)
    client = TestClient(worker)
    assert client.call("echo", {"text": "hi"}) == {"text": "hi"}
    # Only served contracts have examples to run: the composed one is the gateway's.
    assert {ref for ref, _ in client.examples()} == {"echo/v1"}


def test_contracts_where_a_served_contract_is_composed_are_refused(
    tmp_path: Path, contracts_dir: Path
) -> None:
    worker = Worker(name="moves", contracts_dir=TEST_CONTRACTS)
    worker.add_handler("echo", echo)
    other = tmp_path / "other"
    shutil.copytree(contracts_dir, other / "contracts")
    shutil.copytree(REPO / "testdata" / "schemas", other / "schemas")
    (other / "contracts" / "echo.v1.json").write_bytes(
        dumps(composed_manifest(name="echo", compose={"steps": [{"name": "a", "call": "x/v1"}]}))
    )
    with pytest.raises(ContractError, match="echo/v1 is composed at the gateway"):
        worker.use_contracts_dir(other / "contracts")
    assert worker.contracts_dir == TEST_CONTRACTS.absolute()


def test_findings_say_what_is_wrong_where() -> None:
    manifest = composed_manifest(
        timeout_seconds=2,
        cache={"ttl_seconds": 5},
        compose={
            "steps": [
                {"name": "a", "call": "echo/v1", "timeout_seconds": 3, "request": {"a/b": 1}},
                {"name": "b", "call": "echo/v1", "request": "/steps/c", "into": "/x"},
                {"name": "c", "map": "/steps/a/list", "call": "echo/v1", "into": "/x/y"},
            ],
            "on~error": 1,
        },
    )
    assert manifest_problems(manifest) == [
        "/cache: a composed contract's reply is not cached; declare cache on the contracts it "
        "calls",
        "/compose/on~0error: unknown field",
        "/compose/steps/0/request/a~1b: must be a pointer (a string)",
        "/compose/steps/0/timeout_seconds: 3 must be <= the contract's timeout_seconds (2)",
        "/compose/steps/1/request: '/steps/c': no earlier step is named 'c'",
        "/compose/steps/2/into: '/x/y' overlaps '/x' at /compose/steps/1/into",
    ]


def test_a_composed_stream_is_refused() -> None:
    manifest = composed_manifest(mode="stream", chunk_schema="chunk.json")
    assert manifest_problems(manifest) == [
        "/compose: a 'stream' contract cannot be composed; use mode 'sync' or 'job'"
    ]


@pytest.mark.parametrize(
    ("pointer", "tokens"),
    [
        ("", []),
        ("/", [""]),
        ("/request/text", ["request", "text"]),
        ("/a~1b/c~0d/~01", ["a/b", "c~d", "~1"]),
    ],
)
def test_pointers_are_read_as_rfc_6901_says(pointer: str, tokens: list[str]) -> None:
    assert parse_pointer(pointer) == tokens


@pytest.mark.parametrize("pointer", ["request", "/a~2", "/a~", "/~/b"])
def test_pointers_that_rfc_6901_refuses(pointer: str) -> None:
    with pytest.raises(ValueError, match=r"does not start with /|~ must be followed by 0 or 1"):
        parse_pointer(pointer)
