"""Workers as the CLI runs them: real ``notebridge-worker run`` processes on real NATS."""

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import nats.errors
import pytest
from conftest import PYTHON_WORKER, REPO, TEST_CONTRACTS
from nats.aio.client import Client
from support import call, error_of

from notebridge_worker import load_contracts
from notebridge_worker.testing import run_nats_server, run_worker_process

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
    with run_worker_process(
        ECHO_WORKER, nats_url, TEST_CONTRACTS, args=["--grace-seconds", "5"]
    ) as worker:
        in_flight = [
            asyncio.create_task(
                call(client, "nb.echo.v1", {"text": f"finish me {i}", "sleep_ms": 1000})
            )
            for i in range(6)
        ]
        await asyncio.sleep(0.3)
        worker.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(worker.wait_for_log, "takes no new requests; 6 in flight")
        with pytest.raises(nats.errors.NoRespondersError):
            await call(client, "nb.echo.v1", {"text": "too late"})
        replies = await asyncio.gather(*in_flight)
        exit_status = await asyncio.to_thread(worker.process.wait, 10)
    assert [json.loads(reply.data) for reply in replies] == [
        {"text": f"finish me {i}"} for i in range(6)
    ]
    assert exit_status == 0
    # A clean stop closes the connection on purpose: nothing to reconnect, nothing to warn of.
    assert "disconnected" not in worker.log()
    assert "reconnecting" not in worker.log()


@pytest.mark.parametrize(
    ("how", "grace_seconds"),
    [("grace period runs out", "0.3"), ("second signal", "30")],
)
async def test_requests_unfinished_when_the_worker_stops_are_answered_busy(
    client: Client, nats_url: str, how: str, grace_seconds: str
) -> None:
    with run_worker_process(
        ECHO_WORKER, nats_url, TEST_CONTRACTS, env={"NOTEBRIDGE_GRACE_SECONDS": grace_seconds}
    ) as worker:
        in_flight = asyncio.create_task(
            call(client, "nb.echo.v1", {"text": "slow", "sleep_ms": 1800})
        )
        await asyncio.sleep(0.3)
        worker.process.send_signal(signal.SIGINT)
        if how == "second signal":
            await asyncio.to_thread(worker.wait_for_log, "takes no new requests")
            worker.process.send_signal(signal.SIGINT)
        reply = await in_flight
        exit_status = await asyncio.to_thread(worker.process.wait, 10)
    code, message = error_of(reply)
    assert code == "busy"
    assert message.startswith("worker echo stopped before request ")
    assert exit_status == 0


async def test_the_worker_serves_again_after_nats_restarts(client: Client) -> None:
    with contextlib.ExitStack() as stack:
        with run_nats_server() as url:
            worker = stack.enter_context(run_worker_process(ECHO_WORKER, url, TEST_CONTRACTS))
            async with connected(url) as nc:
                before = await call(nc, "nb.echo.v1", {"text": "before"})
        await asyncio.to_thread(worker.wait_for_log, "disconnected from NATS")
        port = int(url.rsplit(":", 1)[1])
        with run_nats_server(port=port):
            await asyncio.to_thread(worker.wait_for_log, "reconnected to NATS")
            async with connected(url) as nc:
                after = await call(nc, "nb.echo.v1", {"text": "after"})
        assert worker.process.poll() is None, "the worker process did not outlive the outage"
    assert json.loads(before.data) == {"text": "before"}
    assert json.loads(after.data) == {"text": "after"}


def test_the_worker_exits_cleanly_when_nats_stops_answering_as_it_stops(tmp_path: Path) -> None:
    binary = os.environ.get("NOTEBRIDGE_BIN") or str(REPO / "bin" / "notebridge")
    command = [binary, "nats", "--port", "0", "--data-dir", str(tmp_path)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        with run_worker_process(ECHO_WORKER, url, TEST_CONTRACTS) as worker:
            # Frozen, the server keeps its connections open and answers nothing, as one
            # does while a whole stack stops around the worker.
            server.send_signal(signal.SIGSTOP)
            try:
                exit_status = worker.stop()
            finally:
                server.send_signal(signal.SIGCONT)
    finally:
        server.kill()
        server.wait()
    assert exit_status == 0, worker.log()
    assert "taking the endpoints off NATS: NATS did not answer" in worker.log()
    assert "Traceback" not in worker.log()


@contextlib.asynccontextmanager
async def connected(url: str, **credentials: str) -> AsyncIterator[Client]:
    nc = await nats.connect(url, **credentials)
    try:
        yield nc
    finally:
        await nc.drain()


async def test_user_and_password_from_flags_log_in() -> None:
    with run_nats_server(user="alice", password="s3cret") as url:
        flags = ["--nats-user", "alice", "--nats-password", "s3cret"]
        with run_worker_process(ECHO_WORKER, url, TEST_CONTRACTS, args=flags):
            async with connected(url, user="alice", password="s3cret") as nc:
                reply = await call(nc, "nb.echo.v1", {"text": "logged in"})
    assert json.loads(reply.data) == {"text": "logged in"}


async def test_token_from_the_environment_logs_in() -> None:
    with run_nats_server(token="t0ken") as url:
        env = {"NOTEBRIDGE_NATS_TOKEN": "t0ken"}
        with run_worker_process(ECHO_WORKER, url, TEST_CONTRACTS, env=env):
            async with connected(url, token="t0ken") as nc:
                reply = await call(nc, "nb.echo.v1", {"text": "token"})
    assert json.loads(reply.data) == {"text": "token"}


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (
            ["--nats-user", "alice", "--nats-password", "wrong"],
            "refused this worker: nats: 'Authorization Violation'",
        ),
        (["--nats-creds", "/no/such.creds"], "--nats-creds: no such file: /no/such.creds"),
    ],
)
def test_credentials_nats_refuses_end_the_worker_with_the_reason(
    flags: list[str], expected: str
) -> None:
    with run_nats_server(user="alice", password="s3cret") as url:
        finished = subprocess.run(
            [
                *(sys.executable, "-m", "notebridge_worker", "run", ECHO_WORKER),
                *("--nats-url", url, "--contracts-dir", str(TEST_CONTRACTS), *flags),
            ],
            cwd=PYTHON_WORKER,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert finished.returncode == 1
    assert expected in finished.stderr
    assert "Traceback" not in finished.stderr


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
