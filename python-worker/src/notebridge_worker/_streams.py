"""The messages of one stream, and the two ways a generator handler is stepped.

A stream handler's chunks go to a StreamSink: NATS messages to the request's reply subject
when served (NatsStream, docs/protocol.md "Stream mode"), a list for the offline TestClient.
An async generator steps on the event loop (AsyncChunks), a plain one a ``next()`` at a time
in the thread pool (ThreadChunks), so that a slow model never blocks the loop.
"""

import asyncio
import logging
import threading
from concurrent.futures import Executor
from typing import Any

from nats.micro.request import Request

from notebridge_worker.protocol import (
    HEADER_CANCEL,
    HEADER_SEQ,
    HEADER_STREAM,
    STREAM_CHUNK,
    STREAM_HEARTBEAT,
)

logger = logging.getLogger("notebridge_worker")


class StreamSink:
    """Where the messages of one stream go, in order: chunks, heartbeats, the end.

    ``started`` says a chunk went out: from then on an error is a stream message, before it
    an ordinary error reply. ``cancelled`` is set when the caller asks the handler to stop.
    """

    def __init__(self) -> None:
        self.started = False
        self.cancelled = asyncio.Event()

    async def send(
        self,
        kind: str,
        body: bytes = b"",
        seq: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Send one message of ``kind`` (a STREAM_* name); ``seq`` for chunks and the end;
        ``headers`` go with it (the end's attempts and usage)."""
        raise NotImplementedError


class BufferedStream(StreamSink):
    """Holds a stream's chunks back while they are checked (a contract whose repair is
    ``buffer``); heartbeats go through to ``stream`` at once, so the caller knows the worker
    is alive, and its cancellation is ``stream``'s."""

    def __init__(self, stream: StreamSink) -> None:
        super().__init__()
        self.stream = stream
        self.cancelled = stream.cancelled
        self.chunks: list[bytes] = []

    async def send(
        self,
        kind: str,
        body: bytes = b"",
        seq: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if kind == STREAM_CHUNK:
            self.chunks.append(body)
        elif kind == STREAM_HEARTBEAT:
            await self.stream.send(kind)


class NatsStream(StreamSink):
    """A stream served over NATS: each message is published to the request's reply subject."""

    def __init__(self, request: Request, cancel_subject: str) -> None:
        super().__init__()
        self.request = request
        self.cancel_subject = cancel_subject

    def headers(self, kind: str, seq: int | None = None) -> dict[str, str]:
        # Every message says where to cancel, so the gateway learns it from whichever comes
        # first (a heartbeat may come before the first chunk).
        headers = {HEADER_STREAM: kind, HEADER_CANCEL: self.cancel_subject}
        if seq is not None:
            headers[HEADER_SEQ] = str(seq)
        return headers

    async def send(
        self,
        kind: str,
        body: bytes = b"",
        seq: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        await self.request.respond(body, headers={**self.headers(kind, seq), **(headers or {})})
        if kind == STREAM_CHUNK:
            self.started = True


END = object()
"""What a step of a generator handler returns once the generator is exhausted."""


class AsyncChunks:
    """An async generator handler, stepped on the event loop."""

    def __init__(self, generator: Any, label: str) -> None:
        self.generator = generator
        self.label = label

    def next(self) -> "asyncio.Future[Any]":
        return asyncio.ensure_future(_anext_or_end(self.generator))

    async def close(self, step: "asyncio.Future[Any] | None") -> None:
        """Stop the generator: cancel the step under way, then run its ``finally`` blocks."""
        if step is not None and not step.done():
            step.cancel()
            await asyncio.wait({step})
        _retrieve(step)
        try:
            await self.generator.aclose()
        except Exception:
            logger.exception("%s raised while it was being stopped", self.label)


class ThreadChunks:
    """A plain generator handler: each ``next()`` runs in the thread pool, never on the loop."""

    def __init__(self, generator: Any, pool: Executor, label: str) -> None:
        self.generator = generator
        self.pool = pool
        self.label = label

    def next(self) -> "asyncio.Future[Any]":
        return asyncio.get_running_loop().run_in_executor(self.pool, _next_or_end, self.generator)

    async def close(self, step: "asyncio.Future[Any] | None") -> None:
        """Close the generator in a thread once the ``next()`` under way has returned.

        A thread cannot be interrupted, and a generator cannot be closed while it runs; so
        the current step finishes (its chunk is dropped), then ``close()`` runs its
        ``finally`` blocks.
        """
        if step is not None and not step.done():
            await asyncio.wait({step})
        _retrieve(step)
        try:
            await asyncio.get_running_loop().run_in_executor(self.pool, self._close)
        except RuntimeError:
            # The pool is shut down (the worker is stopping): close it in a thread of its own.
            threading.Thread(target=self._close, daemon=True).start()

    def _close(self) -> None:
        try:
            self.generator.close()
        except Exception:
            logger.exception("%s raised while it was being stopped", self.label)


async def _anext_or_end(generator: Any) -> Any:
    try:
        return await generator.__anext__()
    except StopAsyncIteration:
        return END


def _next_or_end(generator: Any) -> Any:
    # StopIteration cannot cross a future: asyncio refuses to set it as an exception.
    try:
        return next(generator)
    except StopIteration:
        return END


def _retrieve(step: "asyncio.Future[Any] | None") -> None:
    """Mark a step's exception as seen: it is dropped on purpose, the stream is over."""
    if step is not None and step.done() and not step.cancelled():
        step.exception()
