"""Stream contracts end to end: the real gateway binary, real Python worker processes, an HTTP
client reading Server-Sent Events as they come.

One gateway serves contracts/ and testdata/contracts for the module, with a tokens worker
(tests/tokens_worker.py) whose generators note what they do as files in a journal directory,
and the generate example. The test that kills a worker gets a gateway and a worker of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import (
    JSON,
    REPO,
    TEST_CONTRACTS,
    WORKER_BIN,
    Gateway,
    events,
    start_gateway,
    stop,
    wait_until,
)

REPO_CONTRACTS = REPO / "contracts"
GENERATE_EXAMPLE = json.loads((REPO_CONTRACTS / "generate.v1.json").read_text())["examples"][0]


def run_worker(
    gw: Gateway, target: str, contracts_dir: Path, env: dict[str, str] | None = None
) -> subprocess.Popen:
    return subprocess.Popen(
        [str(WORKER_BIN), "run", target, "--nats-url", gw.nats_url],
        cwd=REPO / "python-worker",
        env={**os.environ, "NOTEBRIDGE_CONTRACTS_DIR": str(contracts_dir), **(env or {})},
    )


def post_stream(gw: Gateway, path: str, body: Any, request_id: str, **headers: str):
    return httpx.stream(
        "POST",
        f"{gw.url}{path}",
        content=json.dumps(body),
        headers={**JSON, "X-Request-Id": request_id, **headers},
        timeout=15,
    )


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("journal")


@pytest.fixture(scope="module")
def streams(tmp_path_factory: pytest.TempPathFactory, journal: Path) -> Iterator[Gateway]:
    """A gateway with a tokens worker and a generate worker."""
    gw = start_gateway(
        tmp_path_factory.mktemp("gateway"),
        "--contracts-dir",
        f"{REPO_CONTRACTS},{TEST_CONTRACTS}",  # the last --contracts-dir wins
    )
    workers = [
        run_worker(
            gw,
            "tests/tokens_worker.py:worker",
            TEST_CONTRACTS,
            {"TOKENS_JOURNAL_DIR": str(journal)},
        ),
        run_worker(gw, "examples/generate.py:worker", REPO_CONTRACTS),
    ]
    try:
        wait_until(
            lambda: gw.workers("tokens", 1) >= 1 and gw.workers("generate", 1) >= 1,
            "tokens and generate workers discovered",
        )
        yield gw
    finally:
        for worker in workers:
            stop(worker)
        stop(gw.proc)


def test_the_first_chunk_arrives_before_the_handler_finishes(streams: Gateway, journal: Path):
    # The handler yields "one", then holds until this test writes its release file.
    body = {"text": "one two three", "behavior": "hold"}
    with post_stream(streams, "/api/tokens", body, "e2e-hold") as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "text/event-stream"
        received = events(resp)
        assert next(received) == {"id": "1", "event": "chunk", "data": '{"text":"one "}'}
        # The handler is still running, and cannot go on until released.
        assert (journal / "e2e-hold.started").exists()
        assert not (journal / "e2e-hold.chunk-2").exists()
        assert not (journal / "e2e-hold.closed").exists()
        (journal / "e2e-hold.release").touch()
        assert list(received) == [
            {"id": "2", "event": "chunk", "data": '{"text":"two "}'},
            {"id": "3", "event": "chunk", "data": '{"text":"three "}'},
            {"event": "end", "data": '{"chunks":3}'},
        ]
    wait_until(lambda: (journal / "e2e-hold.closed").exists(), "the generator finished")


def test_client_disconnect_stops_the_generator(streams: Gateway, journal: Path):
    body = {"text": "a b c d e f g h i j", "delay_ms": 200}
    with post_stream(streams, "/api/tokens", body, "e2e-leaver") as resp:
        assert next(events(resp))["event"] == "chunk"
    # The client left after one chunk: the gateway tells the worker, which closes the
    # generator (its finally writes the file) long before its tenth word.
    wait_until(lambda: (journal / "e2e-leaver.closed").exists(), "the generator closed", 5)
    produced = sorted(path.name for path in journal.glob("e2e-leaver.chunk-*"))
    assert len(produced) < 5, produced


def test_an_error_mid_stream_is_an_error_event(streams: Gateway):
    body = {"text": "a b c", "behavior": "fail"}
    with post_stream(streams, "/api/tokens", body, "e2e-fail") as resp:
        received = list(events(resp))
    assert [event["event"] for event in received] == ["chunk", "error"]
    problem = json.loads(received[1]["data"])
    assert problem["type"] == "urn:notebridge:problem:worker-error"
    assert (problem["code"], problem["request_id"]) == ("tokens_failed", "e2e-fail")


def test_an_error_before_the_first_chunk_is_a_problem_response(streams: Gateway):
    body = {"text": "a b", "behavior": "fail_first"}
    resp = httpx.post(f"{streams.url}/api/tokens", content=json.dumps(body), headers=JSON)
    assert resp.status_code == 502
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["code"] == "tokens_failed"


def test_accept_json_gets_the_chunks_merged(streams: Gateway):
    resp = httpx.post(
        f"{streams.url}/api/tokens",
        content=json.dumps({"text": "hello big world"}),
        headers={**JSON, "Accept": "application/json"},
        timeout=15,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"text": "hello big world "}


def test_the_generate_example_streams(streams: Gateway):
    request, expected = GENERATE_EXAMPLE["request"], GENERATE_EXAMPLE["response"]
    with post_stream(streams, "/api/generate", request, "e2e-generate") as resp:
        received = list(events(resp))
    chunks = [json.loads(event["data"]) for event in received if event["event"] == "chunk"]
    assert len(chunks) == request["max_tokens"]
    assert received[-1] == {"event": "end", "data": f'{{"chunks":{len(chunks)}}}'}
    assert "".join(chunk["text"] for chunk in chunks) == expected["text"]
    merged = httpx.post(
        f"{streams.url}/api/generate",
        content=json.dumps(request),
        headers={**JSON, "Accept": "application/json"},
        timeout=15,
    )
    assert merged.json() == expected


def test_a_worker_killed_mid_stream_ends_with_worker_lost(tmp_path: Path):
    gw = start_gateway(tmp_path)
    worker = run_worker(gw, "tests/tokens_worker.py:worker", TEST_CONTRACTS)
    try:
        wait_until(lambda: gw.workers("tokens", 1) >= 1, "tokens worker discovered")
        body = {"text": "a b c", "behavior": "hold"}
        with post_stream(gw, "/api/tokens", body, "e2e-killed") as resp:
            received = events(resp)
            assert next(received)["event"] == "chunk"
            worker.kill()  # SIGKILL: no goodbye, no more heartbeats
            error = next(received)
            assert list(received) == []
    finally:
        stop(worker)
        stop(gw.proc)
    assert error["event"] == "error"
    problem = json.loads(error["data"])
    assert problem["type"] == "urn:notebridge:problem:worker-lost"
    assert problem["request_id"] == "e2e-killed"
