"""``notebridge-worker run --restart``: the worker runs as a child, replaced when it dies.

Like gunicorn's arbiter with one worker: a worker that dies (a handler's native crash, the
OOM killer, ``os._exit``) is replaced, so its contracts are served again within seconds.
The rules (python-worker/README.md tells them too):

- a child that exits with status 0 stopped as asked: the supervisor exits 0 too;
- any other end (a non-zero status, a signal) is logged with its status and how long the
  child ran, and a new child starts: at once when the dead one had run for at least
  ``window`` seconds; after a back-off of 0.5 s, 1 s, 2 s... (at most 30 s) when it had not;
- ``limit`` deaths in a row, each within ``window`` seconds of its start, is a crash loop
  (a target that cannot load, a NATS server that refuses it): the supervisor gives up and
  exits with the last child's status (128 + the signal's number for a signal);
- SIGTERM, and SIGINT unless it was ignored when the supervisor started (as in a shell
  script's background jobs), is passed on to the child, each time it comes (a second one
  ends the worker's grace period at once); the supervisor then waits for the child and exits
  with its status, starting no other. The child has a process group of its own, so that a
  terminal's Ctrl-C reaches it once, through the supervisor; on Linux it is sent SIGTERM if
  the supervisor dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from types import FrameType

logger = logging.getLogger("notebridge_worker.supervisor")

DEFAULT_RESTART_LIMIT = 5
"""Deaths in a row, each soon after its start, before the supervisor gives up."""
DEFAULT_RESTART_WINDOW = 10.0
"""Seconds a child must run for its death not to count towards the crash loop."""
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
_PR_SET_PDEATHSIG = 1
_NAP_SECONDS = 0.1


def backoff(young_deaths: int) -> float:
    """Seconds to wait before the next start, after ``young_deaths`` early deaths in a row."""
    if young_deaths == 0:
        return 0.0
    return min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (young_deaths - 1))


def exit_status(returncode: int) -> int:
    """A child's return code as a shell shows it: 128 + N for death by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def describe(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exit status {returncode}"


class Supervisor:
    """Runs ``command`` until it stops as asked, or dies ``limit`` times in a row early."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        name: str,
        limit: int = DEFAULT_RESTART_LIMIT,
        window: float = DEFAULT_RESTART_WINDOW,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError(f"the restart limit must be at least 1, not {limit}")
        self.command = list(command)
        self.name = name
        self.limit = limit
        self.window = window
        self.env = None if env is None else dict(env)
        self.child: subprocess.Popen[bytes] | None = None
        # Set by the signal handler: a plain flag, since a handler that took a lock could
        # find it held by the code it interrupted.
        self._stopping = False
        self._libc = _libc()

    def run(self) -> int:
        """Supervise until the end; return the exit status for the supervisor's process."""
        previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, self._on_signal)}
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._on_signal)
        try:
            return self._supervise()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _supervise(self) -> int:
        logger.info(
            "supervising %s: a new worker replaces one that dies; giving up after %d deaths "
            "in a row within %g s of their start",
            self.name,
            self.limit,
            self.window,
        )
        young = 0
        while True:
            started = time.monotonic()
            self.child = child = subprocess.Popen(
                self.command, env=self.env, preexec_fn=self._child_setup
            )
            if self._stopping:
                child.send_signal(signal.SIGTERM)  # the stop came while it was starting
            logger.info("worker %s started (pid %d)", self.name, child.pid)
            returncode = child.wait()
            ran = time.monotonic() - started
            if self._stopping:
                return exit_status(returncode)
            if returncode == 0:
                logger.info(
                    "worker %s (pid %d) stopped; so does its supervisor", self.name, child.pid
                )
                return 0
            young = young + 1 if ran < self.window else 0
            if young >= self.limit:
                logger.error(
                    "worker %s (pid %d) died: %s after %.1f s; it died %d times in a row "
                    "within %g s of its start: giving up",
                    self.name,
                    child.pid,
                    describe(returncode),
                    ran,
                    young,
                    self.window,
                )
                return exit_status(returncode)
            delay = backoff(young)
            logger.error(
                "worker %s (pid %d) died: %s after %.1f s; starting a new one%s",
                self.name,
                child.pid,
                describe(returncode),
                ran,
                f" in {delay:g} s" if delay else "",
            )
            resume_at = time.monotonic() + delay
            while not self._stopping and time.monotonic() < resume_at:
                time.sleep(max(0.0, min(_NAP_SECONDS, resume_at - time.monotonic())))
            if self._stopping:
                return exit_status(returncode)

    def _on_signal(self, signum: int, _: FrameType | None) -> None:
        self._stopping = True
        child = self.child
        # Not child.send_signal: it may wait for a lock that the interrupted wait() holds.
        # Until wait() returns the child is not reaped, so its pid is still its own.
        if child is not None and child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signum)

    def _child_setup(self) -> None:
        """In the child, before exec: a process group of its own; SIGTERM when we die."""
        os.setpgrp()
        if self._libc is not None:
            self._libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _libc() -> ctypes.CDLL | None:
    """The C library, for prctl, where there is one (Linux); loaded before any fork."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def supervise_command(argv: Sequence[str]) -> list[str]:
    """The command of a supervised child: this one, without the options of --restart."""
    child: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--restart":
            continue
        if arg in ("--restart-limit", "--restart-window"):
            skip = True
            continue
        if arg.startswith(("--restart-limit=", "--restart-window=")):
            continue
        child.append(arg)
    return [sys.executable, "-m", "notebridge_worker", *child]
