"""Where plain ``def`` handlers run: a thread pool, or a process pool for CPU-bound code."""

import asyncio
import json
import os
import sys
import types

import pool_handlers
import pytest
from conftest import TEST_CONTRACTS
from nats.aio.client import Client
from support import call, error_of

from notebridge_worker import StartError, Worker
from notebridge_worker.testing import TestClient

ASYNC_V1 = "nb.echo.v1"
POOLED_V2 = "nb.echo.v2"


def pooled_worker(pool: str, **options) -> Worker:
    """echo/v1 answers on the event loop; echo/v2 spins the CPU in the given pool."""
    worker = Worker(name=f"pool-{pool}", contracts_dir=TEST_CONTRACTS, pool=pool, **options)
    worker.handler("echo", version=1)(pool_handlers.echo)
    worker.handler("echo", version=2)(pool_handlers.spin)
    return worker


@pytest.mark.parametrize("pool", ["thread", "process"])
async def test_a_cpu_bound_handler_does_not_block_the_event_loop(
    client: Client, serve, pool: str
) -> None:
    async with serve(pooled_worker(pool, pool_size=1)):
        spinning = asyncio.create_task(
            call(client, POOLED_V2, {"text": "spin", "sleep_ms": 1000}, timeout=10)
        )
        await asyncio.sleep(0.3)  # the spin has started
        prompt = await call(client, ASYNC_V1, {"text": "prompt"})
        spin_finished_first = spinning.done()
        spun = await spinning
    assert json.loads(prompt.data) == {"text": "prompt"}
    assert not spin_finished_first, "the async handler waited for the CPU-bound one"
    assert error_of(spun) is None


async def test_process_pool_runs_handlers_in_other_processes(client: Client, serve) -> None:
    async with serve(pooled_worker("process", pool_size=2)):
        replies = await asyncio.gather(
            *(call(client, POOLED_V2, {"text": f"r{i}", "sleep_ms": 300}) for i in range(4))
        )
    pids = {json.loads(reply.data)["text"].rsplit(" ", 1)[1] for reply in replies}
    assert str(os.getpid()) not in pids
    assert len(pids) == 2


async def test_service_error_crosses_the_process_boundary(client: Client, serve) -> None:
    async with serve(pooled_worker("process", pool_size=1)):
        reply = await call(client, POOLED_V2, {"text": "x", "behavior": "fail"})
    code, message = error_of(reply)
    assert code == "spin_failed"
    assert message.startswith("spin was asked to fail in process ")


async def test_a_dead_pool_process_is_an_internal_error_and_the_pool_restarts(
    client: Client, serve
) -> None:
    async with serve(pooled_worker("process", pool_size=1)):
        died = await call(client, POOLED_V2, {"text": "x", "behavior": "crash"})
        after = await call(client, POOLED_V2, {"text": "after"})
    code, message = error_of(died)
    assert code == "internal"
    assert "died" in message
    assert message.endswith("(worker pool-process started a new process pool)")
    assert error_of(after) is None


async def test_a_handler_chooses_its_own_pool(client: Client, serve) -> None:
    worker = Worker(name="mixed", contracts_dir=TEST_CONTRACTS)  # the thread pool by default
    worker.handler("echo", version=1)(pool_handlers.spin)
    worker.handler("echo", version=2, pool="process")(pool_handlers.spin)
    async with serve(worker):
        in_thread = await call(client, ASYNC_V1, {"text": "t"})
        in_process = await call(client, POOLED_V2, {"text": "p"})
    assert json.loads(in_thread.data)["text"] == f"t from process {os.getpid()}"
    assert json.loads(in_process.data)["text"] != f"p from process {os.getpid()}"


def test_a_handler_a_process_cannot_import_fails_at_start() -> None:
    worker = Worker(name="nested", contracts_dir=TEST_CONTRACTS, pool="process")

    @worker.handler("echo", version=1)
    def nested(request):  # defined inside this test function: not importable by name
        return {"text": request["text"]}

    with pytest.raises(StartError, match=r"nested of echo/v1 cannot run in a process pool: .*"):
        TestClient(worker).call("echo", {"text": "x"})


def test_a_handler_from_an_interactive_session_cannot_run_in_a_process() -> None:
    # Jupyter's kernel runs cells in a module with no file: no other process can import it.
    session = types.ModuleType("kernel_session")
    exec("def handler(request):\n    return {'text': request['text']}", session.__dict__)
    sys.modules[session.__name__] = session
    try:
        worker = Worker(name="kernel", contracts_dir=TEST_CONTRACTS)
        worker.handler("echo", version=1, pool="process")(session.handler)
        with pytest.raises(StartError, match="defined in an interactive session"):
            TestClient(worker).call("echo", {"text": "x"})
    finally:
        del sys.modules[session.__name__]


def test_an_async_handler_cannot_ask_for_a_pool() -> None:
    worker = Worker(contracts_dir=TEST_CONTRACTS)
    with pytest.raises(TypeError, match="is async: it runs on the event loop"):
        worker.handler("echo", version=1, pool="process")(pool_handlers.echo)


def test_unknown_pool_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="pool must be one of thread, process, not 'gpu'"):
        Worker(contracts_dir=TEST_CONTRACTS, pool="gpu")
