"""Typed models generated from a contract's schemas (notebridge_worker.models)."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import TEST_CONTRACTS

from notebridge_worker import Worker
from notebridge_worker.cli import main
from notebridge_worker.contracts import load_contracts
from notebridge_worker.testing import TestClient

pytest.importorskip("datamodel_code_generator")

PRODUCT_CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def generated(tmp_path: Path, contract: str, contracts_dir: Path) -> ModuleType:
    output = tmp_path / f"{contract.replace('/', '_')}_models.py"
    args = ["models", contract, "--contracts-dir", str(contracts_dir), "-o", str(output)]
    assert main(args) == 0
    spec = importlib.util.spec_from_file_location(output.stem, output)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[output.stem] = module  # pydantic resolves annotations through it
    spec.loader.exec_module(module)
    return module


def test_summarize_models_type_a_handler_offline(tmp_path: Path) -> None:
    models = generated(tmp_path, "summarize/v1", PRODUCT_CONTRACTS)
    example = load_contracts(PRODUCT_CONTRACTS)["summarize/v1"].examples[0]
    request = models.Request.model_validate(example.request)
    assert request.max_sentences == example.request["max_sentences"]
    # The $ref into ../common.json became a class of its own.
    assert request.text.root == example.request["text"]
    seen = []
    worker = Worker(contracts_dir=PRODUCT_CONTRACTS)

    @worker.handler("summarize", version=1)
    def summarize(request: models.Request) -> models.Response:
        seen.append(request)
        return models.Response.model_validate(example.response)

    assert TestClient(worker).call("summarize", example.request) == example.response
    assert isinstance(seen[0], models.Request)
    with pytest.raises(ValueError, match="max_sentences"):
        models.Request.model_validate({"text": "x", "max_sentences": 0})


def test_echo_models_type_a_handler_offline(tmp_path: Path) -> None:
    models = generated(tmp_path, "echo/v1", TEST_CONTRACTS)
    example = load_contracts(TEST_CONTRACTS)["echo/v1"].examples[0]
    worker = Worker(contracts_dir=TEST_CONTRACTS)

    @worker.handler("echo", version=1)
    async def echo(request: models.Request) -> models.Response:
        return models.Response(text=request.text.root.upper())

    assert models.Request.model_validate(example.request).text.root == "hello"
    assert TestClient(worker).call("echo", {"text": "hello"}) == {"text": "HELLO"}


def test_stream_contract_has_a_chunk_model(tmp_path: Path) -> None:
    models = generated(tmp_path, "tokens", TEST_CONTRACTS)
    assert models.Chunk.model_validate({"text": "a"}).text == "a"


def test_unknown_contract_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert main(["models", "nope", "--contracts-dir", str(TEST_CONTRACTS)]) == 2
    assert "no contract nope" in capsys.readouterr().err
