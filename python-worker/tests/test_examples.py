"""The example workers answer their contracts' examples."""

import json
from collections.abc import Iterator

import pytest
from conftest import REPO_CONTRACTS
from nats.aio.client import Client
from support import call, error_of

from notebridge_worker import load_contracts
from notebridge_worker.exactjson import dumps
from notebridge_worker.testing import run_worker_process

CONTRACTS = load_contracts(REPO_CONTRACTS)


@pytest.fixture(scope="module")
def example_workers(nats_url: str) -> Iterator[None]:
    with (
        run_worker_process("examples/summarize.py:worker", nats_url, REPO_CONTRACTS),
        run_worker_process("examples/sentiment.py:worker", nats_url, REPO_CONTRACTS),
        run_worker_process("examples/iris.ipynb", nats_url, REPO_CONTRACTS),
    ):
        yield


@pytest.mark.usefixtures("example_workers")
async def test_summarize_gives_the_manifests_example_response(client: Client) -> None:
    [example] = CONTRACTS["summarize/v1"].examples
    reply = await call(client, "nb.summarize.v1", example.request)
    assert error_of(reply) is None
    assert json.loads(reply.data) == example.response


@pytest.mark.usefixtures("example_workers")
@pytest.mark.parametrize(
    ("example_name", "label"), [("happy customer", "positive"), ("unhappy customer", "negative")]
)
async def test_sentiment_classifies_the_examples(
    client: Client, example_name: str, label: str
) -> None:
    example = next(e for e in CONTRACTS["sentiment/v1"].examples if e.name == example_name)
    reply = await call(client, "nb.sentiment.v1", example.request)
    answer = json.loads(reply.data)
    assert answer["label"] == label
    assert 0.5 < answer["confidence"] <= 1


@pytest.mark.usefixtures("example_workers")
@pytest.mark.parametrize("species", ["setosa", "versicolor", "virginica"])
async def test_the_iris_notebook_classifies_its_examples(client: Client, species: str) -> None:
    example = next(e for e in CONTRACTS["iris/v1"].examples if e.name == species)
    reply = await call(client, "nb.iris.v1", dumps(example.request))
    answer = json.loads(reply.data)
    assert answer["species"] == species
    assert max(answer["probabilities"], key=answer["probabilities"].get) == species
    assert sum(answer["probabilities"].values()) == pytest.approx(1, abs=0.001)
