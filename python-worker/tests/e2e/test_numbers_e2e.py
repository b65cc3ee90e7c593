"""End to end, numbers: where the schema says integer, the handler gets an int, also when the
client wrote 2.0 (the real gateway binary, real NATS, a real worker process, real HTTP)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import REPO, Gateway, start_gateway, start_worker, stop, wait_until

CONTRACTS = REPO / "contracts"


@pytest.fixture
def summarize_gateway(tmp_path: Path) -> Iterator[tuple[Gateway, Path]]:
    """A gateway on the repository's contracts, and the summarize probe worker (its log)."""
    gateway = start_gateway(tmp_path, contracts_dir=CONTRACTS)
    log = tmp_path / "worker.log"
    try:
        with log.open("w") as out:
            worker = start_worker(
                gateway.nats_url,
                "tests/summarize_probe.py:worker",
                contracts_dir=CONTRACTS,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until(lambda: gateway.workers("summarize", 1) >= 1, "summarize worker discovered")
            yield gateway, log
        finally:
            stop(worker)
    finally:
        stop(gateway.proc)


def test_summarize_with_max_sentences_2_0_answers_200_and_the_handler_got_an_int(
    summarize_gateway: tuple[Gateway, Path],
) -> None:
    gateway, log = summarize_gateway
    resp = httpx.post(
        f"{gateway.url}/api/summarize",
        content=b'{"text":"hello world. bye.","max_sentences":2.0}',
        headers={"Content-Type": "application/json"},
        timeout=15,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["summary"] == "hello world. bye."
    assert [sentence["index"] for sentence in body["sentences"]] == [0, 1]
    assert "probe: max_sentences=2 (int)" in log.read_text()
