"""``notebridge-worker run --restart``: real supervisor and worker processes on real NATS."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nats
import pytest
from conftest import PYTHON_WORKER, TEST_CONTRACTS
from support import call, error_of

from notebridge_worker.supervisor import backoff, supervise_command
from notebridge_worker.testing import WorkerProcess, run_worker_process

ECHO_WORKER = "tests/echo_worker.py:worker"
STARTED = re.compile(r"worker \S+ started \(pid (\d+)\)")


def wait_for_lines(proc: WorkerProcess, pattern: str, count: int, timeout: float = 30) -> list[str]:
    """The log's lines matching ``pattern``, once there are ``count``; a bounded wait."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [line for line in proc.log().splitlines() if re.search(pattern, line)]
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"not {count} lines matching {pattern!r} in {timeout} s:\n{proc.log()}")


def children(proc: WorkerProcess) -> list[int]:
    """The pids of the workers the supervisor started, in order."""
    return [int(m.group(1)) for m in map(STARTED.search, proc.log().splitlines()) if m]


def running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def wait_until_gone(pid: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while running(pid):
        assert time.monotonic() < deadline, f"process {pid} still runs after {timeout} s"
        time.sleep(0.05)


async def test_a_worker_that_dies_is_replaced_and_serves_again(nats_url: str) -> None:
    with run_worker_process(
        ECHO_WORKER, nats_url, TEST_CONTRACTS, name="supervised", args=["--restart"]
    ) as proc:
        [first] = children(proc)
        os.kill(first, signal.SIGKILL)  # as the OOM killer would

        [died] = wait_for_lines(proc, r"died:", 1)
        assert f"(pid {first}) died: killed by SIGKILL after" in died
        assert "starting a new one" in died
        wait_for_lines(proc, r"worker \S+ serving", 2)
        second = children(proc)[1]
        assert running(second)
        nc = await nats.connect(nats_url)
        try:
            reply = await call(nc, "nb.echo.v1", {"text": "again"})
        finally:
            await nc.drain()
        assert error_of(reply) is None, reply.headers
        assert b"again" in reply.data

        # A stop is passed on, once, and nothing more is started.
        assert proc.stop() == 0
        assert proc.log().count("stopping (stop it again") == 1, proc.log()
        assert children(proc) == [first, second]
        assert not running(second)


def test_a_worker_that_keeps_dying_at_its_start_is_given_up(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text('raise RuntimeError("this worker cannot start")\n')
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "notebridge_worker",
            "run",
            str(broken),
            "--contracts-dir",
            str(TEST_CONTRACTS),
            "--restart",
            "--restart-limit",
            "3",
        ],
        cwd=PYTHON_WORKER,
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - started
    assert proc.returncode == 2, proc.stderr  # the worker's own status: it cannot load
    log = proc.stderr
    assert log.count("RuntimeError: this worker cannot start") == 3, log
    died = [line for line in log.splitlines() if "died:" in line]
    assert len(died) == 3, log
    assert died[0].endswith("starting a new one in 0.5 s"), died
    assert died[1].endswith("starting a new one in 1 s"), died
    assert "died 3 times in a row within 10 s of its start: giving up" in died[2], died
    assert took >= backoff(1) + backoff(2)


def test_the_worker_stops_when_its_supervisor_is_killed(nats_url: str) -> None:
    if not sys.platform.startswith("linux"):
        pytest.fail("the supervisor's child learns of its death through Linux's prctl")
    with run_worker_process(ECHO_WORKER, nats_url, TEST_CONTRACTS, args=["--restart"]) as proc:
        [child] = children(proc)
        proc.process.send_signal(signal.SIGKILL)
        proc.process.wait()
        wait_until_gone(child)


def test_the_child_runs_the_same_command_without_restart() -> None:
    argv = ["run", "w.py", "--restart", "--restart-limit", "3", "--restart-window=2", "-x", "y"]
    assert supervise_command(argv) == [
        sys.executable,
        "-m",
        "notebridge_worker",
        "run",
        "w.py",
        "-x",
        "y",
    ]
