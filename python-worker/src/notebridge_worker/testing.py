"""Real processes for tests: a NATS server, and workers run by ``notebridge-worker run``.

Example::

    with run_nats_server() as nats_url:
        with run_worker_process("my_module:worker", nats_url, "contracts") as worker:
            ...  # send requests to nats_url; worker.log() has what the worker logged
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

READY_LINE = re.compile(r"worker \S+ serving .+ on nats://")
"""What a worker logs once its endpoints are subscribed."""
NATS_URL_LINE = re.compile(r"^nats://\S+$")


class _Lines:
    """Reads a process's output in a thread, so its pipe never fills, and keeps every line."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._closed = False
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> str | None:
        """Return the first line matching ``pattern``; None if the output ends or time runs out."""
        give_up_at = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((line for line in self.lines if pattern.search(line)), None)
                left = give_up_at - time.monotonic()
                if found is not None or self._closed or left <= 0:
                    return found
                self._changed.wait(left)


class WorkerProcess:
    """A running ``notebridge-worker run`` process."""

    def __init__(self, process: subprocess.Popen[str], output: _Lines) -> None:
        self.process = process
        self._output = output

    def log(self) -> str:
        """Everything the process wrote so far, stdout and stderr interleaved."""
        return "\n".join(self._output.lines)

    def stop(self, timeout: float = 20.0) -> int:
        """Send SIGTERM, wait for a graceful exit (kill after ``timeout``); return the status."""
        return _terminate(self.process, timeout)


@contextmanager
def run_nats_server(
    binary: str | os.PathLike[str] | None = None, *, timeout: float = 15.0
) -> Iterator[str]:
    """Start ``notebridge nats --port 0`` and yield its URL; stop it on exit.

    ``binary`` defaults to ``$NOTEBRIDGE_BIN``, then ``notebridge`` on the PATH.
    """
    binary = binary or os.environ.get("NOTEBRIDGE_BIN") or shutil.which("notebridge")
    if not binary or not Path(binary).exists():
        raise FileNotFoundError(
            f"notebridge binary not found ({binary or 'set NOTEBRIDGE_BIN'}); "
            "build it with: go build -o bin/notebridge ./gateway/cmd/notebridge"
        )
    process = subprocess.Popen(
        [os.fspath(binary), "nats", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        url = _Lines(process.stdout).wait_for(NATS_URL_LINE, timeout)
        if url is None:
            raise RuntimeError(f"{binary} nats printed no nats:// URL within {timeout} s")
        yield url
    finally:
        _terminate(process)


@contextmanager
def run_worker_process(
    target: str,
    nats_url: str,
    contracts_dir: str | os.PathLike[str] | None = None,
    *,
    name: str | None = None,
    max_inflight: int | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 30.0,
) -> Iterator[WorkerProcess]:
    """Run ``notebridge-worker run target`` until it serves, yield it, and stop it on exit."""
    command = [sys.executable, "-m", "notebridge_worker", "run", target, "--nats-url", nats_url]
    if contracts_dir is not None:
        command += ["--contracts-dir", os.fspath(contracts_dir)]
    if name is not None:
        command += ["--name", name]
    if max_inflight is not None:
        command += ["--max-inflight", str(max_inflight)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    try:
        assert process.stdout is not None
        output = _Lines(process.stdout)
        if output.wait_for(READY_LINE, timeout) is None:
            log = "\n".join(output.lines)
            raise RuntimeError(f"worker {target} did not start serving within {timeout} s:\n{log}")
        yield WorkerProcess(process, output)
    finally:
        _terminate(process)


def _terminate(process: subprocess.Popen[str], timeout: float = 20.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
