"""End to end: the example notebook, served by one command, answers through the gateway."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from .conftest import REPO, WORKER_BIN, start_gateway, stop, wait_until

CONTRACTS = REPO / "contracts"


def test_the_example_notebook_is_served_through_the_gateway(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path, "--contracts-dir", str(CONTRACTS))
    # The one command docs/researchers.md gives, from the repository root.
    worker = subprocess.Popen(
        [
            str(WORKER_BIN),
            "run",
            "python-worker/examples/iris.ipynb",
            "--nats-url",
            gateway.nats_url,
        ],
        cwd=REPO,
    )
    try:
        wait_until(lambda: gateway.workers("iris", 1) >= 1, "the notebook worker discovered")
        manifest = json.loads((CONTRACTS / "iris.v1.json").read_text())
        for example in manifest["examples"]:
            resp = httpx.post(f"{gateway.url}/api/iris", json=example["request"], timeout=15)
            assert resp.status_code == 200, resp.text
            assert resp.json()["species"] == example["name"]
        resp = httpx.post(f"{gateway.url}/api/iris", json={"sepal_length": -1}, timeout=15)
        assert resp.status_code == 422
    finally:
        stop(worker)
        stop(gateway.proc)
