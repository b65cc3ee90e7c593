"""Fixtures: one real NATS server (the project's own binary) for the whole session."""

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from notebridge_worker import Worker
from notebridge_worker.testing import run_nats_server

PYTHON_WORKER = Path(__file__).resolve().parents[1]
REPO = PYTHON_WORKER.parent
REPO_CONTRACTS = REPO / "contracts"
TEST_CONTRACTS = REPO / "testdata" / "contracts"


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    binary = os.environ.get("NOTEBRIDGE_BIN") or REPO / "bin" / "notebridge"
    with run_nats_server(binary) as url:
        yield url


@pytest.fixture
async def client(nats_url: str) -> AsyncIterator[Client]:
    """A NATS connection playing the gateway's part."""
    nc = await nats.connect(nats_url)
    try:
        yield nc
    finally:
        await nc.drain()


@pytest.fixture
def serve(nats_url: str) -> Callable[[Worker], AbstractAsyncContextManager[None]]:
    """``async with serve(worker):`` serves the worker in this process, on its own connection."""

    @contextlib.asynccontextmanager
    async def serving(worker: Worker) -> AsyncIterator[None]:
        nc = await nats.connect(nats_url)
        try:
            async with worker.serving(nc, grace_seconds=5):
                yield
        finally:
            await nc.drain()

    return serving
