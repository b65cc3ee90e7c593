"""A three-node NATS cluster under faults, with real processes on 127.0.0.1: three
`notebridge nats` nodes routed together with JetStream (every object of the gateway with three
replicas), two gateways and Python workers spread over the nodes. docs/reliability.md lists
what these tests prove."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nats
import pytest
from nats.js.api import StreamInfo

from .conftest import (
    ECHO_WORKER,
    GATEWAY_BIN,
    JOB_CONTRACTS,
    JOB_WORKER,
    JSON,
    TEST_CONTRACTS,
    Gateway,
    free_port,
    start_gateway,
    start_worker,
    stop,
    wait_until,
)


@dataclass
class Cluster:
    nodes: list[subprocess.Popen]
    client_urls: list[str]
    gateways: list[Gateway] = field(default_factory=list)
    workers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return ",".join(self.client_urls)


def start_node(tmp: Path, index: int, client_port: int, route_ports: list[int]) -> subprocess.Popen:
    routes = ",".join(f"nats://127.0.0.1:{port}" for port in route_ports)
    log = (tmp / f"nats-{index}.log").open("w")
    return subprocess.Popen(
        [
            str(GATEWAY_BIN), "nats", "-port", str(client_port),
            "-data-dir", str(tmp / f"n{index}"),
            "-cluster-name", "nb-e2e", "-server-name", f"n{index}",
            "-cluster-port", str(route_ports[index]), "-routes", routes,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip


def job_contracts(tmp: Path) -> Path:
    """The job test contracts with an ack wait of 10 s, longer than a leader election: with
    the tests' usual 1 s, a job whose worker cannot reach JetStream during the election is
    delivered again and runs twice (docs/reliability.md)."""
    directory = tmp / "job_contracts"
    shutil.copytree(JOB_CONTRACTS, directory)
    for manifest in directory.glob("*.v1.json"):
        data = json.loads(manifest.read_text())
        data["ack_wait_seconds"] = 10
        manifest.write_text(json.dumps(data))
    return directory


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    client_ports = [free_port() for _ in range(3)]
    route_ports = [free_port() for _ in range(3)]
    c = Cluster(
        nodes=[start_node(tmp_path, i, client_ports[i], route_ports) for i in range(3)],
        client_urls=[f"nats://127.0.0.1:{port}" for port in client_ports],
    )
    jobs = job_contracts(tmp_path)
    try:
        contracts = f"{TEST_CONTRACTS},{jobs}"
        for n in range(2):
            # Each gateway starts from another node (the first of its list).
            urls = ",".join(c.client_urls[n:] + c.client_urls[:n])
            c.gateways.append(
                start_gateway(
                    tmp_path, "--js-replicas", "3", nats_url=urls, contracts_dir=contracts
                )
            )
        for n in range(2):
            urls = ",".join(c.client_urls[n + 1 :] + c.client_urls[: n + 1])
            c.workers.append(start_worker(urls, ECHO_WORKER))
        log = tmp_path / "job-worker.log"
        c.workers.append(
            start_worker(
                c.url, JOB_WORKER, contracts_dir=jobs, stdout=log.open("w"),
                stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        wait_until(lambda: c.gateways[0].workers("echo", 1) >= 2, "echo workers", 30)
        wait_until(lambda: "pulling jobs of" in log.read_text(), "the job worker", 30)
        yield c
    finally:
        for proc in [*c.workers, *(gw.proc for gw in c.gateways), *c.nodes]:
            if proc.poll() is None:
                stop(proc)


def stream_info(c: Cluster, stream: str) -> StreamInfo:
    """What the cluster says of ``stream`` now: its replicas, its leader."""

    async def ask() -> StreamInfo:
        nc = await nats.connect(servers=c.client_urls)
        try:
            return await nc.jetstream().stream_info(stream)
        finally:
            await nc.close()

    return asyncio.run(ask())


def test_losing_a_node_under_load_loses_no_job_and_sync_calls_recover(cluster: Cluster) -> None:
    """Kill the node that leads the job stream, under steady sync traffic and job submissions:
    sync calls go on once clients reconnect, every job accepted finishes, none runs twice."""
    c = cluster
    results: list[tuple[float, int]] = []  # (time, status) of each sync call
    accepted: list[str] = []
    stop_at = time.monotonic() + 9
    lock = threading.Lock()

    def sync_load(gw: Gateway) -> None:
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < stop_at:
                try:
                    status = client.post(
                        f"{gw.url}/api/echo/v1", content=b'{"text": "hi"}', headers=JSON
                    ).status_code
                except httpx.HTTPError:
                    status = 0
                with lock:
                    results.append((time.monotonic(), status))

    def job_load(gw: Gateway) -> None:
        with httpx.Client(timeout=5) as client:
            n = 0
            while time.monotonic() < stop_at - 2:
                n += 1
                body = json.dumps({"text": f"job {n}", "steps": 1, "step_ms": 50})
                try:
                    resp = client.post(f"{gw.url}/api/steps/v1", content=body, headers=JSON)
                except httpx.HTTPError:
                    continue
                if resp.status_code == 202:
                    with lock:
                        accepted.append(resp.json()["id"])
                time.sleep(0.1)

    leader = stream_info(c, "NB_JOBS").cluster.leader
    victim = c.nodes[int(leader.removeprefix("n"))]
    threads = [threading.Thread(target=sync_load, args=(gw,)) for gw in c.gateways]
    threads += [threading.Thread(target=job_load, args=(gw,)) for gw in c.gateways]
    for thread in threads:
        thread.start()
    time.sleep(3)
    killed_at = time.monotonic()
    victim.send_signal(signal.SIGKILL)
    for thread in threads:
        thread.join()

    failed = [(t, s) for t, s in results if s != 200]
    after = [s for t, s in results if t > killed_at]
    recovered = [t for t, s in results if t > killed_at and s == 200]
    last_failure = max((t for t, s in failed), default=killed_at)
    print(
        f"\nsync calls: {len(results)}, failed {len(failed)}; "
        f"recovered {max(last_failure - killed_at, 0):.2f} s after the kill; jobs {len(accepted)}"
    )
    assert recovered, "no sync call succeeded after the node died"
    for gw in c.gateways:  # ready again on their own
        wait_until(lambda gw=gw: httpx.get(f"{gw.url}/readyz").status_code == 200, "ready", 15)
    assert after[-20:].count(200) == len(after[-20:]), "the last calls still fail"

    # Every job accepted finishes, exactly once.
    gw = c.gateways[0]

    def finished(job_id: str) -> dict:
        return httpx.get(f"{gw.url}/jobs/{job_id}", timeout=5).json()

    deadline = time.monotonic() + 30
    pending = list(accepted)
    while pending and time.monotonic() < deadline:
        pending = [job_id for job_id in pending if finished(job_id).get("status") != "succeeded"]
        time.sleep(0.2)
    assert not pending, [finished(job_id) for job_id in pending]
    twice = [record for record in map(finished, accepted) if record["attempts"] != 1]
    assert not twice, twice
    assert len(accepted) > 10


def test_gateways_and_workers_spread_over_the_nodes(cluster: Cluster) -> None:
    """Each gateway answers through whichever node it is on, and the job bucket is replicated
    on all three."""
    for gw in cluster.gateways:
        resp = httpx.post(f"{gw.url}/api/echo/v1", content=b'{"text": "x"}', headers=JSON)
        assert resp.status_code == 200, resp.text
    for stream in ("NB_JOBS", "KV_nb_jobs"):
        info = stream_info(cluster, stream)
        assert info.config.num_replicas == 3, stream
        assert len(info.cluster.replicas or []) == 2, stream  # and the leader: three nodes


def test_killing_a_worker_and_a_gateway_leaves_no_request_hanging(cluster: Cluster) -> None:
    """SIGKILL a worker, then a gateway, under load: every request to a live gateway is
    answered within its deadline plus a small margin; one to the dead gateway fails at once."""
    c = cluster
    deadline, margin = 1.0, 1.5
    answers: list[tuple[int, int, float]] = []  # (gateway, status, seconds); status 0: refused
    timeouts: list[int] = []
    stop_at = time.monotonic() + 7
    lock = threading.Lock()

    def load(index: int) -> None:
        gw = c.gateways[index]
        headers = {**JSON, "Request-Timeout": str(deadline)}
        with httpx.Client(timeout=deadline + margin) as client:
            while time.monotonic() < stop_at:
                started = time.monotonic()
                try:
                    status = client.post(
                        f"{gw.url}/api/echo/v1", content=b'{"text": "hi"}', headers=headers
                    ).status_code
                except httpx.TimeoutException:
                    with lock:
                        timeouts.append(index)
                    continue
                except httpx.TransportError:
                    status = 0
                    time.sleep(0.05)
                with lock:
                    answers.append((index, status, time.monotonic() - started))

    threads = [threading.Thread(target=load, args=(i,)) for i in (0, 0, 1, 1)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    c.workers[0].send_signal(signal.SIGKILL)  # an echo worker, mid-traffic
    time.sleep(2)
    c.gateways[1].proc.send_signal(signal.SIGKILL)
    for thread in threads:
        thread.join()

    assert not timeouts, f"{len(timeouts)} requests got no answer within {deadline + margin} s"
    live = [(status, took) for gw, status, took in answers if gw == 0]
    assert {status for status, _ in live} <= {200, 502, 503, 504}, Counter(s for s, _ in live)
    assert max(took for _, took in live) <= deadline + margin
    assert Counter(status for status, _ in live)[200] > len(live) * 0.9
    # The dead gateway's clients are refused at once, not left waiting.
    assert any(gw == 1 and status == 0 for gw, status, _ in answers)
    late = [took for gw, status, took in answers if gw == 1 and status == 0]
    assert max(late) < 1, late
    print(f"\nanswers by gateway and status: {Counter((gw, s) for gw, s, _ in answers)}")


SOAK_SECONDS = float(os.environ.get("NOTEBRIDGE_SOAK_SECONDS", "8"))
"""How long the soak holds its rate: 8 s in make test, 60 s in make soak."""
SOAK_RATE = 200
"""Calls per second, spread over both gateways."""


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_soak_at_a_fixed_rate_with_a_worker_restart(cluster: Cluster, tmp_path: Path) -> None:
    """A fixed rate across the cluster for SOAK_SECONDS, an echo worker stopped and replaced
    halfway: nothing is lost (every call answered), and the figures are printed."""
    c = cluster
    rss_start = [rss_mib(gw.proc.pid) for gw in c.gateways]
    sent: list[float] = []
    answers: list[tuple[int, float]] = []  # (status, seconds); 0: no answer
    lock = threading.Lock()
    start = time.monotonic()
    end = start + SOAK_SECONDS
    workers = 8
    interval = workers / SOAK_RATE

    def paced(index: int) -> None:
        gw = c.gateways[index % 2]
        with httpx.Client(timeout=5) as client:
            due = start + index * interval / workers
            while due < end:
                time.sleep(max(0.0, due - time.monotonic()))
                began = time.monotonic()
                with lock:
                    sent.append(began)
                try:
                    status = client.post(
                        f"{gw.url}/api/echo/v1", content=b'{"text": "soak"}', headers=JSON
                    ).status_code
                except httpx.HTTPError:
                    status = 0
                with lock:
                    answers.append((status, time.monotonic() - began))
                due += interval

    threads = [threading.Thread(target=paced, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    time.sleep(SOAK_SECONDS / 2)
    # A rolling restart of one echo worker: stopped gracefully, a new one started.
    stop(c.workers[0])
    c.workers[0] = start_worker(",".join(c.client_urls), ECHO_WORKER)
    for thread in threads:
        thread.join()
    rss_end = [rss_mib(gw.proc.pid) for gw in c.gateways]

    classes = Counter(f"{status // 100}xx" if status else "lost" for status, _ in answers)
    times = sorted(took for status, took in answers if status == 200)
    p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
    report = (
        f"soak {SOAK_SECONDS:.0f} s at {SOAK_RATE}/s: sent {len(sent)}, answered {dict(classes)}, "
        f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, gateway RSS "
        f"{', '.join(f'{a:.1f} → {b:.1f} MiB' for a, b in zip(rss_start, rss_end, strict=True))}"
    )
    print("\n" + report)
    (tmp_path / "soak.txt").write_text(report + "\n")
    assert classes["lost"] == 0, report
    assert len(answers) == len(sent), report
    assert classes["2xx"] == len(answers), report  # a graceful restart costs no call
    assert len(sent) >= SOAK_SECONDS * SOAK_RATE * 0.9, report  # the rate was held


def test_a_stalled_worker_leaves_its_queue_group_within_seconds(cluster: Cluster) -> None:
    """A worker that stops answering without dying (SIGSTOP: a hung process, a partition)
    keeps its share of the requests only until NATS drops it for unanswered pings (about
    10 s): meanwhile its requests get 504 at their deadline, never hang, and the other
    worker serves the rest; after it, every call succeeds."""
    c = cluster
    stalled = c.workers[0]
    answers: list[tuple[float, int, float]] = []  # (when, status, seconds)
    deadline, margin = 1.0, 1.5
    stalled.send_signal(signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        headers = {**JSON, "Request-Timeout": str(deadline)}

        def load(gw: Gateway) -> None:
            with httpx.Client(timeout=deadline + margin) as client:
                while time.monotonic() < stopped_at + 22:
                    began = time.monotonic()
                    status = client.post(
                        f"{gw.url}/api/echo/v1", content=b'{"text": "hi"}', headers=headers
                    ).status_code
                    answers.append((began - stopped_at, status, time.monotonic() - began))

        threads = [threading.Thread(target=load, args=(gw,)) for gw in c.gateways for _ in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        stalled.send_signal(signal.SIGCONT)
    assert {status for _, status, _ in answers} <= {200, 504}, Counter(s for _, s, _ in answers)
    assert max(took for _, _, took in answers) <= deadline + margin
    timed_out = [when for when, status, _ in answers if status == 504]
    assert timed_out, "no request reached the stalled worker: the test proves nothing"
    print(f"\nthe last request to the stalled worker began {max(timed_out):.1f} s after the stop")
    assert max(timed_out) < 16, "the stalled worker kept its share for more than 16 s"
    late = [status for when, status, _ in answers if when > 18]
    assert late, "no call after the stalled worker left"
    assert all(status == 200 for status in late)
