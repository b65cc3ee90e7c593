"""Workers as the CLI runs them: real ``notebridge-worker run`` processes on real NATS."""

import asyncio
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import nats.errors
import pytest
from conftest import PYTHON_WORKER, REPO, TEST_CONTRACTS
from nats.aio.client import Client
from support import call, error_of

from notebridge_worker import load_contracts
from notebridge_worker.testing import run_worker_process

ECHO_WORKER = "tests/echo_worker.py:worker"


async def replies_to(client: Client, subject: str, expected: int) -> list[dict]:
    """Publish once to ``subject`` and collect ``expected`` JSON replies (one per service)."""
    replies: list[dict] = []
    all_in = asyncio.Event()

    async def collect(msg) -> None:
        replies.append(json.loads(msg.data))
        if len(replies) == expected:
            all_in.set()

    inbox = client.new_inbox()
    subscription = await client.subscribe(inbox, cb=collect)
    await client.publish(subject, b"", reply=inbox)
    await asyncio.wait_for(all_in.wait(), timeout=5)
    await subscription.unsubscribe()
    return replies


async def test_two_processes_share_a_contracts_load(client: Client, nats_url: str) -> None:
    with (
        run_worker_process(ECHO_WORKER, nats_url, TEST_CONTRACTS, name="echo-pair"),
        run_worker_process(ECHO_WORKER, nats_url, TEST_CONTRACTS, name="echo-pair"),
    ):
        replies = await asyncio.gather(
            *(call(client, "nb.echo.v1", {"text": "hi"}) for _ in range(40))
        )
        stats = await replies_to(client, "$SRV.STATS.echo-pair", expected=2)
    assert [error_of(reply) for reply in replies] == [None] * 40
    served = [
        next(e["num_requests"] for e in service["endpoints"] if e["subject"] == "nb.echo.v1")
        for service in stats
    ]
    assert sum(served) == 40
    assert min(served) > 0, f"one process served every request: {served}"


async def test_sigterm_stops_taking_requests_and_finishes_those_in_flight(
    client: Client, nats_url: str
) -> None:
    with run_worker_process(ECHO_WORKER, nats_url, TEST_CONTRACTS) as worker:
        in_flight = asyncio.create_task(
            call(client, "nb.echo.v1", {"text": "finish me", "sleep_ms": 1000})
        )
        await asyncio.sleep(0.3)
        worker.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.2)
        with pytest.raises(nats.errors.NoRespondersError):
            await call(client, "nb.echo.v1", {"text": "too late"})
        reply = await in_flight
        exit_status = await asyncio.to_thread(worker.process.wait, 10)
    assert json.loads(reply.data) == {"text": "finish me"}
    assert exit_status == 0


async def test_module_target_and_settings_from_the_environment(
    client: Client, nats_url: str
) -> None:
    settings = {"NOTEBRIDGE_MAX_INFLIGHT": "3", "NOTEBRIDGE_CONTRACTS_DIR": str(TEST_CONTRACTS)}
    with run_worker_process(
        "echo_worker:worker", nats_url, env=settings, cwd=PYTHON_WORKER / "tests"
    ) as worker:
        [info] = await replies_to(client, "$SRV.INFO.echo", expected=1)
    assert info["metadata"]["max_inflight"] == "3"
    assert "worker echo serving echo/v1 on nats://127.0.0.1:" in worker.log()


async def test_contracts_dir_flag_overrides_the_workers_own(
    client: Client, nats_url: str, tmp_path: Path
) -> None:
    edited = tmp_path / "testdata"
    shutil.copytree(REPO / "testdata", edited)
    defs = edited / "schemas" / "defs.json"
    defs.write_text(defs.read_text().replace('"maxLength": 64', '"maxLength": 65'))
    expected_digest = load_contracts(edited / "contracts")["echo/v1"].digest
    with run_worker_process(ECHO_WORKER, nats_url, edited / "contracts"):
        [info] = await replies_to(client, "$SRV.INFO.echo", expected=1)
    [endpoint] = info["endpoints"]
    assert endpoint["metadata"]["digest"] == expected_digest
    assert expected_digest != load_contracts(TEST_CONTRACTS)["echo/v1"].digest


def test_a_target_that_is_not_a_worker_is_refused() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "notebridge_worker", "run", "tests/echo_worker.py:build_worker"],
        cwd=PYTHON_WORKER,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert finished.returncode == 2
    assert "tests/echo_worker.py:build_worker is a function, not a notebridge_worker.Worker" in (
        finished.stderr
    )
