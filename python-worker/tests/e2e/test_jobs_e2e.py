"""Job mode end to end: the real gateway binary (embedded NATS with JetStream), real Python
worker processes pulling jobs (notebridge_worker.jobs), real HTTP.

The job test contracts are tests/job_contracts: steps/v1 (an ``async def`` handler) and
ticks/v1 (a plain ``def`` in a thread), served by tests/job_worker.py; their ack wait is one
second, so a dead worker's job comes back quickly.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from .conftest import (
    JOB_CONTRACTS,
    JOB_WORKER,
    JSON,
    REPO,
    WORKER_BIN,
    Gateway,
    start_gateway,
    start_worker,
    stop,
    wait_until,
)

FINAL = {"succeeded", "failed", "cancelled"}
# Records are written by the gateway (queued, cancelled) and by the SDK (running, progress,
# the result or the error): each one read is checked against the protocol's schema.
JOB_RECORD = Draft202012Validator(
    json.loads((REPO / "protocol" / "job-record.schema.json").read_text())
)


def run_job_worker(gw: Gateway, log: Path, *extra: str) -> subprocess.Popen:
    """A job worker process, once it pulls jobs; its log goes to ``log``."""
    proc = start_worker(
        gw.nats_url,
        JOB_WORKER,
        *extra,
        contracts_dir=JOB_CONTRACTS,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: "pulling jobs of" in log.read_text(), f"job worker {log.name} pulling")
    except BaseException:
        stop(proc)
        raise
    return proc


def submit(gw: Gateway, contract: str, body: dict[str, Any], **headers: str) -> str:
    resp = httpx.post(
        f"{gw.url}/api/{contract}", content=json.dumps(body), headers={**JSON, **headers}
    )
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["id"]
    assert resp.headers["location"] == f"/jobs/{job_id}"
    return job_id


def record(gw: Gateway, job_id: str) -> dict[str, Any]:
    resp = httpx.get(f"{gw.url}/jobs/{job_id}", timeout=5)
    assert resp.status_code == 200, resp.text
    JOB_RECORD.validate(resp.json())
    return resp.json()


def wait_for_status(
    gw: Gateway, job_id: str, statuses: set[str], timeout: float = 15
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Poll the job until its status is one of ``statuses``; return it and every record seen."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(record(gw, job_id))
        if seen[-1]["status"] in statuses:
            return seen[-1], seen
        time.sleep(0.03)
    raise AssertionError(f"job {job_id} not {statuses} after {timeout}s: {seen[-1:]}")


@pytest.fixture(scope="module")
def job_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway serving the job contracts, with one job worker process."""
    tmp = tmp_path_factory.mktemp("jobs")
    gw = start_gateway(tmp, contracts_dir=JOB_CONTRACTS)
    try:
        gw.worker_log = tmp / "worker.log"
        worker = run_job_worker(gw, gw.worker_log)
        try:
            yield gw
        finally:
            stop(worker)
    finally:
        stop(gw.proc)


def test_a_job_worker_says_what_it_pulls(job_gateway):
    log = job_gateway.worker_log.read_text()
    assert "serving jobs of steps/v1, jobs of ticks/v1 on nats://127.0.0.1:" in log, log


@pytest.mark.parametrize("contract", ["steps", "ticks"])
def test_a_job_runs_with_progress_and_stores_its_result(job_gateway, contract):
    # 1.6 s, longer than the contracts' ack wait (1 s): heartbeats keep the job from being
    # delivered again while it runs.
    job_id = submit(job_gateway, contract, {"text": "héllo", "steps": 8, "step_ms": 200})
    final, seen = wait_for_status(job_gateway, job_id, FINAL)
    assert final["status"] == "succeeded", final
    assert final["result"] == {"text": "héllo", "attempt": 1}
    assert final["attempts"] == 1
    assert final["progress"]["fraction"] == 1
    assert final["progress"]["message"].endswith("8 of 8")
    assert "error" not in final
    # The client saw the job run, and its progress move, before it ended.
    running = [r for r in seen if r["status"] == "running"]
    assert any(0 < r.get("progress", {}).get("fraction", 0) < 1 for r in running), seen


def test_failed_attempts_are_retried_until_max_attempts(job_gateway):
    once = submit(job_gateway, "steps", {"text": "again", "fail_on": [1]})
    always = submit(job_gateway, "ticks", {"text": "never", "fail_on": [1, 2, 3]})
    broken = submit(job_gateway, "steps", {"text": "x", "bad_result": True})

    final, _ = wait_for_status(job_gateway, once, FINAL)
    assert (final["status"], final["attempts"]) == ("succeeded", 2), final
    assert final["result"] == {"text": "again", "attempt": 2}
    assert "error" not in final  # the first attempt's error is gone with the success
    # The failed delivery cost what it cost: the record sums both.
    assert final["usage"] == {"runs": 2, "input_tokens": 20, "output_tokens": 4, "cost": 0.5}

    final, _ = wait_for_status(job_gateway, always, FINAL)
    assert (final["status"], final["attempts"]) == ("failed", 3), final
    assert final["error"] == {"code": "job_failed", "message": "asked to fail on attempt 3"}
    assert "result" not in final
    assert final["usage"]["runs"] == 3
    assert final["usage"]["cost"] == 0.75

    final, _ = wait_for_status(job_gateway, broken, FINAL)
    assert (final["status"], final["attempts"]) == ("failed", 3), final
    assert final["error"]["code"] == "invalid_reply"
    assert "/text" in final["error"]["message"]


def test_an_idempotent_replay_returns_the_same_job_which_runs_once(job_gateway):
    body = {"text": "once", "steps": 2, "step_ms": 50}
    key = {"Idempotency-Key": "e2e-idem-1"}
    first = submit(job_gateway, "steps", body, **key)
    resp = httpx.post(
        f"{job_gateway.url}/api/steps", content=json.dumps(body), headers={**JSON, **key}
    )
    assert resp.status_code == 202, resp.text
    assert resp.json()["id"] == first
    assert resp.headers["idempotent-replayed"] == "true"
    other = httpx.post(
        f"{job_gateway.url}/api/steps",
        content=json.dumps({**body, "text": "other"}),
        headers={**JSON, **key},
    )
    assert other.status_code == 422, other.text
    assert other.json()["type"] == "urn:notebridge:problem:idempotency-key-reused"
    final, _ = wait_for_status(job_gateway, first, FINAL)
    assert (final["status"], final["attempts"], final["result"]["attempt"]) == (
        "succeeded",
        1,
        1,
    )


def test_a_killed_workers_jobs_are_redelivered_and_all_finish(tmp_path):
    gw = start_gateway(tmp_path, contracts_dir=JOB_CONTRACTS)
    workers: list[subprocess.Popen] = []
    try:
        doomed = run_job_worker(gw, tmp_path / "doomed.log", "--max-inflight", "4")
        workers.append(doomed)
        accepted = [
            submit(gw, contract, {"text": f"job {i}", "steps": 10, "step_ms": 100})
            for i, contract in enumerate(["steps", "ticks", "steps", "ticks"])
        ]
        # The only worker holds every job, mid-run, when it dies.
        for job_id in accepted:
            wait_for_status(gw, job_id, {"running"})
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        heir_log = tmp_path / "heir.log"
        workers.append(run_job_worker(gw, heir_log))

        finished = [wait_for_status(gw, job_id, FINAL, timeout=20)[0] for job_id in accepted]
        succeeded = [r for r in finished if r["status"] == "succeeded"]
        assert len(succeeded) == len(accepted), finished
        # Each was taken over by a second attempt, on the other worker.
        assert all(r["attempts"] == 2 and r["result"]["attempt"] == 2 for r in finished)
        # Any of them may have killed the first worker: they run one at a time.
        events = [
            line.split("notebridge_worker: ", 1)[1]
            for line in heir_log.read_text().splitlines()
            if any(job_id in line for job_id in accepted) and "ended without" not in line
        ]
        assert len(events) == 2 * len(accepted), events
        for start, end in zip(events[::2], events[1::2], strict=True):
            job_id = start.split()[1]
            assert start.endswith(": attempt 2 of 3"), events
            assert end == f"job {job_id} succeeded after 2 attempt(s)", events
    finally:
        for proc in workers:
            stop(proc)
        stop(gw.proc)


def test_a_poison_job_fails_after_its_attempts_and_spares_the_jobs_beside_it(tmp_path):
    """A job that kills its worker process on every attempt, among 20 that do not.

    The test restarts the worker each time it dies, as a supervisor would. The jobs that
    ran beside the poison job when it first killed the worker come back with it after the
    ack wait; each then runs alone, so the poison job takes down nothing but itself again.
    """
    gw = start_gateway(tmp_path, contracts_dir=JOB_CONTRACTS)
    workers = [run_job_worker(gw, tmp_path / "worker-0.log")]
    deaths: list[int] = []
    try:
        innocent = []
        for i in range(20):
            if i == 5:
                # Jobs 0 to 4 are running when it arrives.
                poison = submit(gw, "steps", {"text": "poison", "die": True})
            innocent.append(submit(gw, "steps", {"text": f"job {i}", "steps": 3, "step_ms": 100}))
        deadline = time.monotonic() + 60
        while True:
            if workers[-1].poll() is not None:
                deaths.append(workers[-1].returncode)
                log = tmp_path / f"worker-{len(workers)}.log"
                workers.append(
                    start_worker(
                        gw.nats_url,
                        JOB_WORKER,
                        contracts_dir=JOB_CONTRACTS,
                        stdout=log.open("w"),
                        stderr=subprocess.STDOUT,
                    )
                )
            records = {job_id: record(gw, job_id) for job_id in [poison, *innocent]}
            if all(r["status"] in FINAL for r in records.values()):
                break
            assert time.monotonic() < deadline, [
                r for r in records.values() if r["status"] not in FINAL
            ]
            assert len(workers) <= 10, f"the worker died {len(deaths)} times: {deaths}"
            time.sleep(0.2)

        final = records.pop(poison)
        assert (final["status"], final["attempts"]) == ("failed", 3), final
        assert final["error"]["code"] == "worker_lost", final
        assert "in 3 attempt(s)" in final["error"]["message"], final
        assert "result" not in final
        # Each of its attempts killed the worker (os._exit(3)), and nothing else did.
        assert deaths == [3, 3, 3], deaths
        failed = [r for r in records.values() if r["status"] != "succeeded"]
        assert not failed, f"{len(failed)} of 20 innocent jobs did not succeed: {failed}"
        for i, job_id in enumerate(innocent):
            assert records[job_id]["result"]["text"] == f"job {i}"
            # At most the one attempt that died beside the poison job's first.
            assert records[job_id]["attempts"] <= 2, records[job_id]
    finally:
        for proc in workers:
            stop(proc)
        stop(gw.proc)


def test_cancelling_a_running_job_stops_its_handler(tmp_path):
    gw = start_gateway(tmp_path, contracts_dir=JOB_CONTRACTS)
    log = tmp_path / "worker.log"
    # One slot: the next job can run only once the cancelled handler has stopped.
    worker = run_job_worker(gw, log, "--max-inflight", "1")
    try:
        for contract in ("steps", "ticks"):
            job_id = submit(gw, contract, {"text": "long", "steps": 1000, "step_ms": 20})
            wait_until(
                lambda job_id=job_id: record(gw, job_id).get("progress", {}).get("fraction", 0) > 0,
                "the job to make progress",
            )
            # Jobs share the worker's in-flight limit: the next one waits for the slot.
            quick = submit(gw, contract, {"text": "next", "steps": 1})
            time.sleep(0.5)
            assert record(gw, quick)["status"] == "queued"
            resp = httpx.delete(f"{gw.url}/jobs/{job_id}", timeout=5)
            assert resp.status_code == 200, resp.text
            assert resp.json()["status"] == "cancelled"
            wait_until(
                lambda job_id=job_id: f"handler of job {job_id} stopped" in log.read_text(),
                f"the {contract} handler to stop",
                timeout=5,
            )
            after = record(gw, job_id)
            assert after["status"] == "cancelled"
            assert "result" not in after

            final, _ = wait_for_status(gw, quick, FINAL, timeout=5)
            assert final["status"] == "succeeded", final
            assert record(gw, job_id) == after  # nothing was written over the cancellation
    finally:
        stop(worker)
        stop(gw.proc)


def test_a_job_worker_refuses_to_start_without_the_gateways_jetstream_objects(nats_url):
    # A NATS server with JetStream, but no gateway has created the job stream and bucket.
    proc = subprocess.run(
        [
            str(WORKER_BIN),
            "run",
            JOB_WORKER,
            "--nats-url",
            nats_url,
            "--contracts-dir",
            str(JOB_CONTRACTS),
        ],
        cwd=REPO / "python-worker",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    assert "NB_JOBS is missing" in proc.stderr
    assert "start a gateway that serves steps/v1, ticks/v1 first" in proc.stderr


def test_the_report_example_is_a_job_with_progress(tmp_path):
    contracts = REPO / "contracts"
    [example] = json.loads((contracts / "report.v1.json").read_text())["examples"]
    gw = start_gateway(tmp_path, contracts_dir=contracts)
    try:
        log = tmp_path / "report.log"
        worker = start_worker(
            gw.nats_url,
            "examples/report.py:worker",
            contracts_dir=contracts,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(lambda: "pulling jobs of report/v1" in log.read_text(), "report worker")
            job_id = submit(gw, "report", {**example["request"], "chunk_size": 10, "delay_ms": 100})
            final, seen = wait_for_status(gw, job_id, FINAL)
            assert final["status"] == "succeeded", final
            assert final["result"] == example["response"]
            assert final["progress"] == {"fraction": 1, "message": "chunk 4 of 4"}
            assert {"chunk 2 of 4", "chunk 3 of 4"} & {
                r.get("progress", {}).get("message") for r in seen
            }
        finally:
            stop(worker)
    finally:
        stop(gw.proc)


def test_a_stopping_worker_finishes_jobs_within_its_grace_period_and_leaves_the_rest(tmp_path):
    gw = start_gateway(tmp_path, contracts_dir=JOB_CONTRACTS)
    workers: list[subprocess.Popen] = []
    try:
        leaving = run_job_worker(gw, tmp_path / "leaving.log", "--grace-seconds", "1")
        workers.append(leaving)
        short = submit(gw, "steps", {"text": "short", "steps": 5, "step_ms": 100})
        long = submit(gw, "steps", {"text": "long", "steps": 30, "step_ms": 100})
        for job_id in (short, long):
            wait_for_status(gw, job_id, {"running"})
        leaving.send_signal(signal.SIGTERM)
        # A job submitted now is either in the worker's last pull, and run, or left to
        # another worker; it is never dropped, nor does it lose an attempt.
        later = submit(gw, "steps", {"text": "later"})
        assert leaving.wait(timeout=10) == 0
        final = record(gw, short)
        assert (final["status"], final["attempts"]) == ("succeeded", 1), final
        assert record(gw, long)["status"] == "running"  # left unacknowledged

        workers.append(run_job_worker(gw, tmp_path / "heir.log"))
        final, _ = wait_for_status(gw, long, FINAL)
        assert (final["status"], final["attempts"]) == ("succeeded", 2), final
        final, _ = wait_for_status(gw, later, FINAL)
        assert (final["status"], final["attempts"]) == ("succeeded", 1), final
    finally:
        for proc in workers:
            stop(proc)
        stop(gw.proc)


def test_the_catalog_counts_job_workers(job_gateway):
    """The service metadata of a job worker names the contracts it pulls (the gateway reads
    those, not its status endpoints)."""
    assert (job_gateway.workers("steps", 1), job_gateway.workers("ticks", 1)) == (1, 1)


def test_workers_pull_again_once_the_gateway_recreates_a_deleted_job_stream(tmp_path):
    """Someone deletes NB_JOBS (and with it every worker's consumer): the gateway recreates it,
    /readyz says ready again, and the worker that was pulling takes the next job."""
    gw = start_gateway(tmp_path, contracts_dir=JOB_CONTRACTS)
    log = tmp_path / "worker.log"
    worker = None
    try:
        worker = run_job_worker(gw, log)
        first = submit(gw, "steps", {"text": "before", "steps": 1, "step_ms": 10})
        assert wait_for_status(gw, first, FINAL)[0]["status"] == "succeeded"

        asyncio.run(_delete_stream(gw.operator_url, "NB_JOBS"))
        wait_until(lambda: httpx.get(f"{gw.url}/readyz").status_code == 200, "ready again", 20)
        after = submit(gw, "steps", {"text": "after", "steps": 1, "step_ms": 10})
        final, _ = wait_for_status(gw, after, FINAL, timeout=30)
        assert final["status"] == "succeeded", (final, log.read_text()[-2000:])
    finally:
        if worker is not None:
            stop(worker)
        stop(gw.proc)


async def _delete_stream(nats_url: str, name: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().delete_stream(name)
    finally:
        await nc.close()


def test_nats_micro_shows_a_job_contracts_endpoint_and_counts_its_attempts(job_gateway):
    job_id = submit(job_gateway, "steps", {"text": "counted", "steps": 1, "step_ms": 1})
    final, _ = wait_for_status(job_gateway, job_id, FINAL)
    assert final["status"] == "succeeded", final

    async def ask() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        nc = await nats.connect(job_gateway.operator_url)
        try:
            info = await nc.request("$SRV.INFO.jobs-test", b"", timeout=5)
            stats = await nc.request("$SRV.STATS.jobs-test", b"", timeout=5)
            status = await nc.request("nb.pulls.steps.v1", b"", timeout=5)
        finally:
            await nc.close()
        return json.loads(info.data), json.loads(stats.data), json.loads(status.data)

    info, stats, status = asyncio.run(ask())
    endpoints = {endpoint["name"]: endpoint for endpoint in info["endpoints"]}
    assert set(endpoints) == {"steps-v1-jobs", "ticks-v1-jobs"}, info
    steps = endpoints["steps-v1-jobs"]
    assert steps["subject"] == "nb.pulls.steps.v1"
    assert steps["metadata"]["jobs_of"] == "steps/v1"
    assert steps["metadata"]["consumer"] == "nb-jobs-steps-v1"
    counted = {endpoint["name"]: endpoint for endpoint in stats["endpoints"]}
    assert counted["steps-v1-jobs"]["num_requests"] >= 1, stats
    assert status["jobs_of"] == "steps/v1"
    assert status["attempts"] >= 1, status


def test_the_document_of_job_contracts_is_valid_openapi_with_links_to_the_job(job_gateway):
    doc = httpx.get(f"{job_gateway.url}/openapi.json", timeout=5).json()
    validate(doc, cls=OpenAPIV31SpecValidator)
    accepted = doc["paths"]["/api/steps/v1/jobs"]["post"]["responses"]["202"]
    assert accepted["links"]["GetJob"] == {
        "operationId": "get_job",
        "parameters": {"id": "$response.body#/id"},
        "description": "The job's status, progress, and result or error",
    }
