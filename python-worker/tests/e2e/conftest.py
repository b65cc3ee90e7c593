"""Fixtures for end-to-end tests: the real gateway binary and real worker processes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from notebridge_worker.testing import terminate

REPO = Path(__file__).resolve().parents[3]
GATEWAY_BIN = Path(os.environ.get("NOTEBRIDGE_BIN", REPO / "bin" / "notebridge"))
WORKER_BIN = Path(sys.executable).parent / "notebridge-worker"
TEST_CONTRACTS = REPO / "testdata" / "contracts"
ECHO_WORKER = "tests/echo_worker.py:worker"
JOB_CONTRACTS = REPO / "python-worker" / "tests" / "job_contracts"
JOB_WORKER = "tests/job_worker.py:worker"
JSON = {"Content-Type": "application/json"}
POSTGRES_SH = REPO / "scripts" / "postgres.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen, timeout: float = 10) -> int:
    """Stop a process the way an orchestrator does: SIGTERM, then SIGKILL after ``timeout``."""
    return terminate(proc, timeout)


def wait_until(check, what: str, timeout: float = 15) -> None:
    """Poll check() until it is true; a bounded loop, never a hang."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Gateway:
    """A running gateway process."""

    proc: subprocess.Popen
    url: str
    nats_url: str
    """What workers connect with: the embedded server's worker URL (it is locked down)."""
    log: Path
    worker_log: Path | None = None
    """The log of the worker a fixture started with it, if any."""
    operator_url: str = ""
    """What tools acting for the gateway connect with (notebridge keys, contracts test, JetStream
    administration): the embedded server's gateway URL."""

    def workers(self, name: str, version: int) -> int:
        catalog = httpx.get(f"{self.url}/api", timeout=5).json()
        for contract in catalog["contracts"]:
            for v in contract["versions"]:
                if contract["name"] == name and v["version"] == version:
                    return v["workers"]
        return 0


def start_gateway(
    tmp: Path, *extra: str, nats_url: str | None = None, contracts_dir: Path = TEST_CONTRACTS
) -> Gateway:
    if not GATEWAY_BIN.exists():
        raise FileNotFoundError(f"{GATEWAY_BIN} is missing: run `make build` first")
    http_port = free_port()
    args = [
        str(GATEWAY_BIN),
        "serve",
        "--listen",
        f"127.0.0.1:{http_port}",
        "--contracts-dir",
        str(contracts_dir),
        # Without API keys, unless a test asks for them (--auth keys).
        *([] if "--auth" in extra else ["--auth", "none"]),
        *extra,
    ]
    embedded = not nats_url
    if nats_url:
        args += ["--nats-url", nats_url]
    else:
        nats_port = free_port()
        nats_url = f"nats://127.0.0.1:{nats_port}"
        args += ["--nats-port", str(nats_port), "--data-dir", str(tmp / "nats")]
    log = tmp / f"gateway-{http_port}.log"
    proc = subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT)
    gw = Gateway(proc=proc, url=f"http://127.0.0.1:{http_port}", nats_url=nats_url, log=log)
    try:
        wait_until(
            lambda: httpx.get(f"{gw.url}/readyz", timeout=1).status_code == 200, "gateway ready"
        )
    except BaseException:
        stop(proc)
        raise
    gw.operator_url = gw.nats_url
    if embedded:  # locked down: each role connects with the URL the gateway wrote for it
        gw.nats_url = (tmp / "nats" / "worker.url").read_text().strip()
        gw.operator_url = (tmp / "nats" / "gateway.url").read_text().strip()
    return gw


def start_worker(
    nats_url: str,
    target: str = ECHO_WORKER,
    *extra: str,
    contracts_dir: Path = TEST_CONTRACTS,
    **popen: object,
) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(WORKER_BIN),
            "run",
            target,
            "--nats-url",
            nats_url,
            "--contracts-dir",
            str(contracts_dir),
            *extra,
        ],
        cwd=REPO / "python-worker",
        **popen,
    )


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    gw = start_gateway(tmp_path)
    try:
        yield gw
    finally:
        stop(gw.proc)


@pytest.fixture
def echo_worker(gateway: Gateway) -> Iterator[subprocess.Popen]:
    proc = start_worker(gateway.nats_url)
    try:
        wait_until(lambda: gateway.workers("echo", 1) >= 1, "echo worker discovered")
        yield proc
    finally:
        stop(proc)


def events(resp: httpx.Response) -> Iterator[dict[str, str]]:
    """The SSE events of a response as they arrive; heartbeat comments are skipped."""
    event: dict[str, str] = {}
    for line in resp.iter_lines():
        if line.startswith(":"):
            continue
        if line == "":
            if event:
                yield event
            event = {}
            continue
        field, _, value = line.partition(": ")
        event[field] = value


@dataclass
class Postgres:
    """A throwaway PostgreSQL server with pgvector (scripts/postgres.sh), on loopback."""

    root: Path
    port: int

    def url(self, database: str = "notebridge") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One server for the session; each test module makes its own database in it. As root, the
    server runs as the postgres OS user, which must reach its folder: a fresh one in /tmp."""
    root = Path(tempfile.mkdtemp(prefix="notebridge-pg-"))
    server = Postgres(root, free_port())
    # The server's binaries come from a wheel of this interpreter's environment.
    env = {**os.environ, "NOTEBRIDGE_PYTHON": sys.executable}
    try:
        start = subprocess.run(
            ["bash", str(POSTGRES_SH), "start", str(root), str(server.port)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert start.returncode == 0, f"scripts/postgres.sh start failed:\n{start.stderr}"
        yield server
    finally:
        subprocess.run(
            ["bash", str(POSTGRES_SH), "stop", str(root)], timeout=60, check=False, env=env
        )
        shutil.rmtree(root, ignore_errors=True)
