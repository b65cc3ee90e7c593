"""Composed contracts end to end: the gateway binary runs the steps, calling a real worker
process over a real NATS server; a composed job survives its gateway being killed.

The composed contracts call echo/v1 of testdata/contracts; the worker writes every request it
gets to a file, so the tests count what each branch cost.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from notebridge_worker.testing import run_nats_server

from .conftest import (
    GATEWAY_BIN,
    TEST_CONTRACTS,
    start_gateway,
    start_worker,
    stop,
    wait_until,
)

BRANCHES = {
    "one": {"text": "/request/text"},
    "two": {"text": "/request/other"},
    "slow": {"text": "/request/slow", "sleep_ms": "/request/slow_ms"},
}


def composed(name: str, mode: str, require: str, **extra: object) -> dict[str, object]:
    branches: list[dict[str, object]] = [
        {"name": b, "call": "echo/v1", "request": req, "into": f"/{b}"}
        for b, req in BRANCHES.items()
    ]
    if mode == "sync":  # the slow branch times out; a job's waits for it
        branches[2]["timeout_seconds"] = 1
    return {
        "name": name,
        "version": 1,
        "description": f"one, two and slow echo/v1 calls in parallel, require {require}",
        "mode": mode,
        "timeout_seconds": 5,
        "request_schema": "../schemas/request.json",
        "response_schema": "../schemas/result.json",
        "compose": {"steps": [{"name": "fan", "require": require, "parallel": branches}]},
        "examples": [{"name": "x", "request": {"text": "a", "other": "b", "slow": "c"}}],
        **extra,
    }


COUNTING_WORKER = """
    import asyncio, json, os
    from notebridge_worker import Worker

    worker = Worker(name="counting-echo", contracts_dir=os.environ["TEST_CONTRACTS"])

    @worker.handler("echo", version=1)
    async def echo(request, context):
        with open(os.environ["ECHO_LOG"], "a") as log:
            log.write(json.dumps(request) + "\\n")
        await asyncio.sleep(request.get("sleep_ms", 0) / 1000)
        return {"text": request["text"]}
"""


@pytest.fixture(scope="module")
def composed_contracts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("composed")
    (root / "schemas").mkdir()
    (root / "contracts").mkdir()
    text = {"type": "string", "minLength": 1}
    request = {
        "type": "object",
        "required": ["text", "other", "slow"],
        "properties": {"text": text, "other": text, "slow": text, "slow_ms": {"type": "integer"}},
    }
    (root / "schemas" / "request.json").write_text(json.dumps(request))
    (root / "schemas" / "result.json").write_text(json.dumps({"type": "object"}))
    manifests = [
        composed("fan_quorum", "sync", "quorum(2)"),
        composed("fan_all", "sync", "all"),
        composed("fan_job", "job", "all", ack_wait_seconds=2, max_attempts=3),
    ]
    for m in manifests:
        (root / "contracts" / f"{m['name']}.v1.json").write_text(json.dumps(m))
    return root / "contracts"


class CountingWorker:
    def __init__(self, tmp: Path, nats_url: str) -> None:
        self.log = tmp / "echo-requests.jsonl"
        self.log.touch()
        script = tmp / "counting_worker.py"
        script.write_text(textwrap.dedent(COUNTING_WORKER))
        env = {**os.environ, "ECHO_LOG": str(self.log), "TEST_CONTRACTS": str(TEST_CONTRACTS)}
        self.proc = start_worker(nats_url, f"{script}:worker", env=env)

    def texts(self) -> list[str]:
        return [json.loads(line)["text"] for line in self.log.read_text().splitlines()]


@pytest.fixture(scope="module")
def nats_url() -> Iterator[str]:
    """A NATS server of this module's own: its gateways create the job stream, which the
    session's shared server must not have (test_jobs_e2e.py starts a worker without one)."""
    with run_nats_server(GATEWAY_BIN) as url:
        yield url


@pytest.fixture
def stack(tmp_path: Path, nats_url: str, composed_contracts: Path) -> Iterator[tuple]:
    dirs = f"{composed_contracts},{TEST_CONTRACTS}"
    gateway = start_gateway(tmp_path, nats_url=nats_url, contracts_dir=dirs)  # type: ignore[arg-type]
    worker = CountingWorker(tmp_path, nats_url)
    try:
        wait_until(lambda: gateway.workers("echo", 1) >= 1, "the echo worker discovered")
        yield gateway, worker, dirs
    finally:
        stop(worker.proc)
        stop(gateway.proc)


REQUEST = {"text": "a", "other": "b", "slow": "c", "slow_ms": 3000}


def test_a_slow_branch_is_left_out_under_quorum_and_fails_the_call_under_all(stack) -> None:
    gateway, _, _ = stack
    resp = httpx.post(f"{gateway.url}/api/fan_quorum", json=REQUEST, timeout=10)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["completed"] is False
    assert body["result"] == {"one": {"text": "a"}, "two": {"text": "b"}}
    slow = body["branches"][2]
    assert (slow["branch"], slow["outcome"], slow["status"]) == ("slow", "failed", 504)

    resp = httpx.post(f"{gateway.url}/api/fan_all", json=REQUEST, timeout=10)
    assert resp.status_code == 504, resp.text
    problem = resp.json()
    assert resp.headers["content-type"] == "application/problem+json"
    assert problem["type"] == "urn:notebridge:problem:deadline-exceeded"
    assert [b["outcome"] for b in problem["branches"]] == ["succeeded", "succeeded", "failed"]


def test_a_killed_gateway_resumes_a_composed_job_without_calling_finished_branches_again(
    stack, tmp_path: Path, nats_url: str
) -> None:
    gateway, worker, dirs = stack
    # echo/v1 answers within 2 s: the slow branch takes 1.5 s of them.
    resp = httpx.post(
        f"{gateway.url}/api/fan_job/v1/jobs", json={**REQUEST, "slow_ms": 1500}, timeout=5
    )
    assert resp.status_code == 202, resp.text
    job = resp.json()["id"]
    # The fast branches are done and the slow one is under way: then the gateway dies.
    wait_until(lambda: sorted(worker.texts()) == ["a", "b", "c"], "every branch called once")
    gateway.proc.send_signal(signal.SIGKILL)
    gateway.proc.wait(timeout=10)

    (tmp_path / "second").mkdir()
    second = start_gateway(tmp_path / "second", nats_url=nats_url, contracts_dir=dirs)  # type: ignore[arg-type]
    try:
        record: dict = {}

        def succeeded() -> bool:
            record.update(httpx.get(f"{second.url}/jobs/{job}", timeout=5).json())
            return record["status"] == "succeeded"

        wait_until(succeeded, "the job succeeded on the second gateway", timeout=30)
    finally:
        stop(second.proc)
    assert sorted(worker.texts()) == ["a", "b", "c", "c"], "only the slow branch runs again"
    branches = {b["branch"]: b for b in record["result"]["branches"]}
    assert branches["one"].get("checkpointed")
    assert branches["two"].get("checkpointed")
    assert not branches["slow"].get("checkpointed")
    assert record["result"]["result"]["slow"] == {"text": "c"}
    assert record["attempts"] == 2
