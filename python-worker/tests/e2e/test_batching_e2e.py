"""End to end: concurrent HTTP requests through the real gateway, answered by one batch handler."""

from __future__ import annotations

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx

from .conftest import start_worker, stop, wait_until

BATCH_WORKER = "tests/batch_worker.py:worker"
"""echo/v1 in batches of up to 16, each reply "<text> #<position>/<batch size>"."""
REPLY = re.compile(r"^(?P<text>\S+) #(?P<position>\d+)/(?P<size>\d+)$")


def test_concurrent_http_requests_are_answered_in_batches(gateway) -> None:
    worker = start_worker(
        gateway.nats_url, BATCH_WORKER, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until(lambda: gateway.workers("echo", 1) >= 1, "batch worker discovered")
        bodies = [{"text": f"caller-{i}", "sleep_ms": 300} for i in range(16)]
        bodies[5]["behavior"] = "fail"

        def post(body: dict) -> httpx.Response:
            return httpx.post(
                f"{gateway.url}/api/echo/v1",
                content=json.dumps(body),
                headers={"Content-Type": "application/json"},
                timeout=15,
            )

        with ThreadPoolExecutor(len(bodies)) as pool:
            responses = list(pool.map(post, bodies))
    finally:
        stop(worker)

    failed = responses[5]
    assert failed.status_code == 502, failed.text
    assert failed.json()["code"] == "echo_failed"
    sizes = []
    for i, response in enumerate(responses):
        if i == 5:
            continue
        assert response.status_code == 200, response.text
        reply = REPLY.match(response.json()["text"])
        assert reply is not None, response.text
        assert reply["text"] == f"caller-{i}"  # each caller got its own item
        sizes.append(int(reply["size"]))
    # A batch runs for 300 ms and requests keep arriving while it does: the second batch at
    # the latest holds several of them.
    assert max(sizes) > 1, sizes
