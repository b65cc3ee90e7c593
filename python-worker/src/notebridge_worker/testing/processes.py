"""Real processes for tests: ``notebridge nats`` and ``notebridge-worker run``."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

NATS_URL_LINE = re.compile(r"^nats://\S+$")
READY_POLL_SECONDS = 0.02


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

    def wait_for_log(self, pattern: str, timeout: float = 20.0) -> str:
        """Return the first line of the log that matches ``pattern`` (a regular expression).

        Raises AssertionError, with the log, if none does within ``timeout`` seconds.
        """
        line = self._output.wait_for(re.compile(pattern), timeout)
        if line is None:
            raise AssertionError(f"no line matching {pattern!r} within {timeout} s:\n{self.log()}")
        return line

    def stop(self, timeout: float = 20.0) -> int:
        """Send SIGTERM, wait for a graceful exit (kill after ``timeout``); return the status."""
        return terminate(self.process, timeout)


@contextmanager
def run_nats_server(
    binary: str | os.PathLike[str] | None = None,
    *,
    port: int = 0,
    user: str | None = None,
    password: str | None = None,
    token: str | None = None,
    timeout: float = 15.0,
) -> Iterator[str]:
    """Start ``notebridge nats`` and yield its URL; stop it on exit.

    ``binary`` defaults to ``$NOTEBRIDGE_BIN``, then ``notebridge`` on the PATH. ``port`` 0
    picks a free one. With ``user`` and ``password``, or ``token``, clients must log in.
    JetStream keeps its files in a temporary directory, removed on exit.
    """
    binary = binary or os.environ.get("NOTEBRIDGE_BIN") or shutil.which("notebridge")
    if not binary or not Path(binary).exists():
        raise FileNotFoundError(
            f"notebridge binary not found ({binary or 'set NOTEBRIDGE_BIN'}); "
            "build it with: go build -o bin/notebridge ./gateway/cmd/notebridge"
        )
    credentials = {"-user": user, "-password": password, "-token": token}
    with tempfile.TemporaryDirectory(prefix="notebridge-nats-") as data_dir:
        command = [os.fspath(binary), "nats", "--port", str(port), "--data-dir", data_dir]
        command += [part for name, value in credentials.items() if value for part in (name, value)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            assert process.stdout is not None
            url = _Lines(process.stdout).wait_for(NATS_URL_LINE, timeout)
            if url is None:
                raise RuntimeError(f"{binary} nats printed no nats:// URL within {timeout} s")
            yield url
        finally:
            terminate(process)


@contextmanager
def run_worker_process(
    target: str,
    nats_url: str,
    contracts_dir: str | os.PathLike[str] | None = None,
    *,
    name: str | None = None,
    max_inflight: int | None = None,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 30.0,
) -> Iterator[WorkerProcess]:
    """Run ``notebridge-worker run target`` until it serves, yield it, and stop it on exit.

    ``args`` are more options of ``run`` (``["--pool", "process"]``). The worker counts as
    serving once it writes its ``--ready-file``, which it does after its endpoints are
    subscribed and its job consumers bound.
    """
    command = [sys.executable, "-m", "notebridge_worker", "run", target, "--nats-url", nats_url]
    if contracts_dir is not None:
        command += ["--contracts-dir", os.fspath(contracts_dir)]
    if name is not None:
        command += ["--name", name]
    if max_inflight is not None:
        command += ["--max-inflight", str(max_inflight)]
    with tempfile.TemporaryDirectory(prefix="notebridge-worker-") as scratch:
        # The worker writes this file once its endpoints are subscribed (--ready-file).
        ready_file = Path(scratch) / "ready"
        command += ["--ready-file", str(ready_file), *args]
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
            if not _wait_for_file(ready_file, process, timeout):
                log = "\n".join(output.lines)
                raise RuntimeError(
                    f"worker {target} did not start serving within {timeout} s:\n{log}"
                )
            yield WorkerProcess(process, output)
        finally:
            terminate(process)


def _wait_for_file(path: Path, process: "subprocess.Popen[str]", timeout: float) -> bool:
    """Whether ``path`` exists within ``timeout`` seconds, before ``process`` exits."""
    give_up_at = time.monotonic() + timeout
    while time.monotonic() < give_up_at:
        if path.exists():
            return True
        if process.poll() is not None:
            return path.exists()
        time.sleep(READY_POLL_SECONDS)
    return False


def terminate(process: "subprocess.Popen[str]", timeout: float = 20.0) -> int:
    """SIGTERM ``process``, wait ``timeout`` seconds for it to exit, else kill it; its status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
