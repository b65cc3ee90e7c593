"""The control of one job attempt: its progress reports and its cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
from collections.abc import Callable
from typing import Any

from notebridge_worker.jobs.store import NATS_TROUBLE, JobNotFound, JobStore
from notebridge_worker.protocol import JOB_RUNNING

logger = logging.getLogger("notebridge_worker")


class JobControl:
    """One attempt of a job as its handler's RequestContext sees it: progress, cancellation.

    Progress may be reported from any thread; reports are written by one task on the event
    loop, in order, the latest one winning when they come faster than the record is written.
    """

    def __init__(
        self, store: JobStore, job_id: str, attempt: int, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.store = store
        self.job_id = job_id
        self.attempt = attempt
        self.cancel_requested = asyncio.Event()
        self._cancelled = threading.Event()
        self._loop = loop
        self._lock = threading.Lock()
        self._latest: dict[str, Any] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """The gateway cancelled the job (on the event loop's thread)."""
        self._cancelled.set()
        self.cancel_requested.set()

    def close(self) -> None:
        """The attempt is over: later reports are dropped."""
        self._closed = True

    def report(self, fraction: float, message: str | None = None) -> None:
        """Hand a progress report to the event loop; from any thread, never blocks."""
        progress = progress_entry(fraction, message)
        if self._closed:
            return
        with self._lock:
            self._latest = progress
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._start_writer()
        else:
            # A closed loop: the worker has stopped, nobody will write it.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._start_writer)

    async def progress(self, fraction: float, message: str | None = None) -> None:
        """Report progress and wait until it (or a later report) is stored."""
        self.report(fraction, message)
        await self.flush()

    async def flush(self) -> None:
        """Wait until the reports handed over so far are stored (or failed to be)."""
        writer = self._writer
        if writer is not None:
            await asyncio.shield(writer)

    def _start_writer(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = self._loop.create_task(self._write_reports())

    async def _write_reports(self) -> None:
        while not self._closed:
            with self._lock:
                progress, self._latest = self._latest, None
            if progress is None:
                return
            try:
                await self.store.update(self.job_id, self._set(progress))
            except (JobNotFound, *NATS_TROUBLE, RuntimeError, ValueError) as error:
                logger.warning("job %s: could not store its progress: %s", self.job_id, error)

    def _set(self, progress: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
        def change(record: dict[str, Any]) -> bool:
            # Written only while this attempt runs: nothing once the job is cancelled or
            # over, nor over a later attempt (this one's thread may outlive its deadline).
            if record.get("status") != JOB_RUNNING or record.get("attempts") != self.attempt:
                return False
            record["progress"] = progress
            return True

        return change


def progress_entry(fraction: float, message: str | None) -> dict[str, Any]:
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        raise TypeError(f"progress must be a number from 0 to 1, not {fraction!r}")
    if not (math.isfinite(fraction) and 0 <= fraction <= 1):
        raise ValueError(f"progress must be from 0 to 1, not {fraction!r}")
    if message is not None and not isinstance(message, str):
        raise TypeError(f"a progress message must be a string, not {type(message).__name__}")
    progress: dict[str, Any] = {"fraction": float(fraction)}
    if message:
        progress["message"] = message
    return progress
