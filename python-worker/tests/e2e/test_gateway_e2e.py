"""End to end: the real gateway binary, real NATS, real Python worker processes, real HTTP."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from .conftest import (
    GATEWAY_BIN,
    JSON,
    REPO,
    TEST_CONTRACTS,
    Gateway,
    start_gateway,
    start_worker,
    stop,
    wait_until,
)


def post(gw: Gateway, path: str, body: object, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{gw.url}{path}", content=json.dumps(body), headers={**JSON, **headers}, timeout=15
    )


def problem(resp: httpx.Response, status: int, kind: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["type"] == f"urn:notebridge:problem:{kind}"
    assert body["request_id"] == resp.headers["x-request-id"]
    return body


def test_success_reaches_the_python_worker(gateway, echo_worker):
    resp = post(gateway, "/api/echo", {"text": "héllo"}, **{"X-Request-Id": "e2e-1"})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"text": "héllo"}
    assert resp.headers["x-request-id"] == "e2e-1"


def test_invalid_request_is_422_with_every_violation(gateway, echo_worker):
    body = problem(
        post(gateway, "/api/echo/v1", {"text": 1, "sleep_ms": -5}), 422, "invalid-request"
    )
    assert [(e["instancePath"], e["keyword"]) for e in body["errors"]] == [
        ("/sleep_ms", "minimum"),
        ("/text", "type"),
    ]


def test_no_worker_is_503_at_once(gateway, echo_worker):
    resp = post(gateway, "/api/echo/v2", {"text": "nobody serves v2"})
    body = problem(resp, 503, "no-worker")
    assert body["contract"] == "echo/v2"
    assert resp.headers["retry-after"] == "1"


def test_slow_handler_is_504(gateway, echo_worker):
    resp = post(
        gateway, "/api/echo/v1", {"text": "slow", "sleep_ms": 3000}, **{"Request-Timeout": "0.5"}
    )
    assert problem(resp, 504, "deadline-exceeded")["contract"] == "echo/v1"


def test_handler_service_error_is_502_with_its_code(gateway, echo_worker):
    body = problem(
        post(gateway, "/api/echo/v1", {"text": "x", "behavior": "fail"}), 502, "worker-error"
    )
    assert body["code"] == "echo_failed"
    assert "echo was asked to fail" in body["detail"]


def test_handler_crash_is_502_without_traceback(gateway, tmp_path):
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                str(Path(REPO / "python-worker/.venv/bin/notebridge-worker")),
                "run",
                "tests/echo_worker.py:worker",
                "--nats-url",
                gateway.nats_url,
                "--contracts-dir",
                str(TEST_CONTRACTS),
            ],
            cwd=REPO / "python-worker",
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: gateway.workers("echo", 1) >= 1, "echo worker discovered")
        resp = post(
            gateway,
            "/api/echo/v1",
            {"text": "x", "behavior": "crash"},
            **{"X-Request-Id": "crash-1"},
        )
        body = problem(resp, 502, "worker-error")
        assert body["code"] == "internal"
        assert "boom" not in resp.text
        assert "Traceback" not in resp.text
    finally:
        stop(proc)
    worker_log = log.read_text()
    assert "Traceback" in worker_log, worker_log
    assert "crash-1" in worker_log, worker_log


def test_reply_that_breaks_the_contract_is_502(gateway, echo_worker):
    body = problem(
        post(gateway, "/api/echo/v1", {"text": "x", "behavior": "bad_reply"}), 502, "invalid-reply"
    )
    assert body["contract"] == "echo/v1"
    # The worker caught it; the client still gets every violation, with its pointer.
    assert [(e["instancePath"], e["keyword"]) for e in body["errors"]] == [
        ("", "additionalProperties"),
        ("/n", "type"),
        ("/text", "type"),
    ]


def test_busy_worker_is_503_with_retry_after(gateway):
    proc = start_worker(gateway.nats_url, "tests/echo_worker.py:worker", "--max-inflight", "1")
    try:
        wait_until(lambda: gateway.workers("echo", 1) >= 1, "echo worker discovered")
        with ThreadPoolExecutor(2) as pool:
            slow = pool.submit(post, gateway, "/api/echo/v1", {"text": "a", "sleep_ms": 1500})
            time.sleep(0.3)  # let the slow request take the only slot
            rejected = post(gateway, "/api/echo/v1", {"text": "b"})
            assert slow.result().status_code == 200
        problem(rejected, 503, "worker-busy")
        assert rejected.headers["retry-after"] == "1"
    finally:
        stop(proc)


def test_drifted_worker_is_502_naming_the_contract(gateway, tmp_path):
    drifted = tmp_path / "testdata"
    shutil.copytree(REPO / "testdata", drifted)
    defs = drifted / "schemas" / "defs.json"
    defs.write_text(defs.read_text().replace('"maxLength": 64', '"maxLength": 65'))
    proc = subprocess.Popen(
        [
            str(REPO / "python-worker/.venv/bin/notebridge-worker"),
            "run",
            "tests/echo_worker.py:worker",
            "--nats-url",
            gateway.nats_url,
            "--contracts-dir",
            str(drifted / "contracts"),
        ],
        cwd=REPO / "python-worker",
    )
    try:
        wait_until(lambda: gateway.workers("echo", 1) >= 1, "drifted worker discovered")
        body = problem(post(gateway, "/api/echo/v1", {"text": "x"}), 502, "contract-drift")
        assert body["contract"] == "echo/v1"
        catalog = httpx.get(f"{gateway.url}/api").json()
        v1 = catalog["contracts"][0]["versions"][0]
        assert (v1["workers"], v1["drifted_workers"]) == (1, 1)
    finally:
        stop(proc)


def test_a_worker_with_reworded_descriptions_is_not_drifted(gateway, tmp_path):
    # Documentation edits to a schema reach the workers before (or after) the gateway; the
    # digest leaves annotations out, so calls keep working meanwhile (docs/protocol.md).
    edited = tmp_path / "testdata"
    shutil.copytree(REPO / "testdata", edited)
    request = edited / "schemas" / "echo.request.json"
    schema = json.loads(request.read_text())
    schema["description"] = "Reworded: what the echo worker sends back."
    schema["examples"] = [{"text": "hi"}]
    request.write_text(json.dumps(schema, indent=4))
    proc = start_worker(gateway.nats_url, contracts_dir=edited / "contracts")
    try:
        wait_until(lambda: gateway.workers("echo", 1) >= 1, "edited worker discovered")
        resp = post(gateway, "/api/echo/v1", {"text": "x"})
        assert resp.status_code == 200, resp.text
        catalog = httpx.get(f"{gateway.url}/api").json()
        assert catalog["contracts"][0]["versions"][0]["drifted_workers"] == 0
    finally:
        stop(proc)


def test_sigterm_lets_in_flight_requests_finish(gateway, echo_worker):
    with ThreadPoolExecutor(1) as pool:
        inflight = pool.submit(
            post, gateway, "/api/echo/v1", {"text": "finish me", "sleep_ms": 1000}
        )
        time.sleep(0.3)  # let the request reach the worker
        gateway.proc.terminate()
        resp = inflight.result()
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"text": "finish me"}
    assert gateway.proc.wait(15) == 0


def test_gateway_reconnects_after_nats_restarts(tmp_path):

    def start_nats(port_arg: str) -> tuple[subprocess.Popen, str]:
        proc = subprocess.Popen(
            [str(GATEWAY_BIN), "nats", "--port", port_arg, "--data-dir", str(tmp_path / "js")],
            stdout=subprocess.PIPE,
            text=True,
        )
        return proc, proc.stdout.readline().strip()

    nats, url = start_nats("0")
    port = url.rsplit(":", 1)[1]
    gw = start_gateway(tmp_path, nats_url=url)
    worker = start_worker(url)
    try:
        wait_until(lambda: gw.workers("echo", 1) >= 1, "echo worker discovered")
        assert post(gw, "/api/echo/v1", {"text": "before"}).status_code == 200

        stop(nats)
        wait_until(
            lambda: httpx.get(f"{gw.url}/readyz").status_code == 503,
            "readyz 503 while NATS is down",
        )
        nats, _ = start_nats(port)
        wait_until(
            lambda: httpx.get(f"{gw.url}/readyz").status_code == 200, "readyz 200 after restart"
        )
        wait_until(
            lambda: post(gw, "/api/echo/v1", {"text": "after"}).status_code == 200,
            "a request succeeds after the restart",
            timeout=20,
        )
    finally:
        stop(worker)
        stop(gw.proc)
        stop(nats)


@pytest.mark.parametrize("path", ["/api/echo/v1", "/api/echo"])
def test_examples_of_the_contract_pass_through(gateway, echo_worker, path):
    manifest = json.loads((TEST_CONTRACTS / "echo.v1.json").read_text())
    for example in manifest["examples"]:
        resp = post(gateway, path, example["request"])
        assert resp.status_code == 200, resp.text
        assert resp.json() == example["response"]
