"""A worker for the stream test contract tokens v1 in testdata/contracts.

It yields the words of the request's text, one chunk ``{"text": "<word> "}`` each, and
behaves as testdata/schemas/tokens.request.json describes. ``build_worker()`` serves it with
an async generator; ``build_worker(threaded=True)`` with a plain generator, which runs in the
thread pool. A :class:`Journal` records what the generators did (started, each chunk
yielded, closed), so that a test can see that a stopped generator ran its ``finally`` and
yielded nothing more; with a directory it also writes one file per event, for tests that
run the worker as a process of its own (``$TOKENS_JOURNAL_DIR``), and ``hold`` waits for a
``<request id>.release`` file there.

    TOKENS_JOURNAL_DIR=/tmp/j notebridge-worker run python-worker/tests/tokens_worker.py:worker \\
        --contracts-dir testdata/contracts
"""

import asyncio
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from notebridge_worker import RequestContext, ServiceError, Worker

TEST_CONTRACTS = Path(__file__).resolve().parents[2] / "testdata" / "contracts"
JOURNAL_DIR = "TOKENS_JOURNAL_DIR"
POLL_SECONDS = 0.01


class Journal:
    """What the tokens generators did, by request id: in memory, and as files if asked."""

    def __init__(self, directory: Path | None = None) -> None:
        self.events: list[tuple[str, str]] = []
        self.directory = directory
        self.release = threading.Event()
        """Set it to let every held stream go on (in-process tests)."""
        self.closed_in: dict[str, str] = {}
        """The thread each generator's ``finally`` ran in, by request id."""

    def note(self, request_id: str, event: str) -> None:
        self.events.append((request_id, event))
        if event == "closed":
            self.closed_in[request_id] = threading.current_thread().name
        if self.directory is not None:
            (self.directory / f"{request_id}.{event}").touch()

    def of(self, request_id: str) -> list[str]:
        """The events of one request, in order: started, chunk-1, chunk-2..., closed."""
        return [event for rid, event in self.events if rid == request_id]

    def released(self, request_id: str) -> bool:
        return self.release.is_set() or (
            self.directory is not None and (self.directory / f"{request_id}.release").exists()
        )


def build_worker(
    *,
    name: str = "tokens",
    max_inflight: int = 64,
    journal: Journal | None = None,
    threaded: bool = False,
) -> Worker:
    """A tokens worker; its generators note what they do in ``journal``."""
    worker = Worker(name=name, contracts_dir=TEST_CONTRACTS, max_inflight=max_inflight)
    journal = journal if journal is not None else Journal()

    async def tokens(request: dict[str, Any], context: RequestContext) -> AsyncIterator[Any]:
        request_id = context.request_id
        journal.note(request_id, "started")
        try:
            for number, word in enumerate(request["text"].split(), start=1):
                if number > 1:
                    await asyncio.sleep(request.get("delay_ms", 0) / 1000)
                    held = request.get("behavior") == "hold"
                    # Polled: a file written by another process may release it.
                    while held and not journal.released(request_id):  # noqa: ASYNC110
                        await asyncio.sleep(POLL_SECONDS)
                chunk = misbehave(request.get("behavior"), number, word)
                journal.note(request_id, f"chunk-{number}")
                yield chunk
        finally:
            journal.note(request_id, "closed")

    def tokens_in_thread(request: dict[str, Any], context: RequestContext) -> Iterator[Any]:
        request_id = context.request_id
        journal.note(request_id, "started")
        try:
            for number, word in enumerate(request["text"].split(), start=1):
                if number > 1:
                    time.sleep(request.get("delay_ms", 0) / 1000)
                    while request.get("behavior") == "hold" and not journal.released(request_id):
                        time.sleep(POLL_SECONDS)
                chunk = misbehave(request.get("behavior"), number, word)
                journal.note(request_id, f"chunk-{number}")
                yield chunk
        finally:
            journal.note(request_id, "closed")

    worker.handler("tokens", version=1)(tokens_in_thread if threaded else tokens)
    worker.journal = journal  # type: ignore[attr-defined]
    return worker


def misbehave(behavior: str | None, number: int, word: str) -> dict[str, Any]:
    """The chunk of word ``number``, or the failure ``behavior`` asks for."""
    if behavior == "fail_first" or (behavior == "fail" and number == 2):
        raise ServiceError("tokens_failed", f"failed before token {number}")
    if number == 2 and behavior == "crash":
        raise RuntimeError("boom secret traceback detail")
    if number == 2 and behavior == "die":
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
    if number == 2 and behavior == "bad_chunk":
        return {"text": 5}
    return {"text": word + " "}


_directory = os.environ.get(JOURNAL_DIR)
worker = build_worker(journal=Journal(Path(_directory)) if _directory else None)
