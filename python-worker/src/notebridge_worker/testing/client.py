"""The offline TestClient: a worker's handlers called through the request pipeline, no NATS."""

import asyncio
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from notebridge_worker import exactjson
from notebridge_worker._blocking import run_blocking
from notebridge_worker._pipeline import Pipeline, Reply
from notebridge_worker._routes import Route
from notebridge_worker._streams import StreamSink
from notebridge_worker.contracts import Example
from notebridge_worker.errors import ErrorReply
from notebridge_worker.protocol import (
    HEADER_DEADLINE,
    HEADER_REQUEST_ID,
    STREAM_CHUNK,
    STREAM_END,
    STREAM_HEARTBEAT,
    contract_ref,
)
from notebridge_worker.testing.exchange import (
    CallError,
    Exchange,
    accounts,
    merged_reply,
    same_json,
)
from notebridge_worker.worker import Worker

STOP_WAIT_SECONDS = 5.0
"""How long a stream call waits for a generator it stopped to run its finally blocks."""


class _CollectedStream(StreamSink):
    """A stream that keeps its chunks, as the bytes the worker would send."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []
        self.heartbeats = 0
        self.end_body = b""
        self.end_headers: dict[str, str] = {}

    async def send(
        self,
        kind: str,
        body: bytes = b"",
        seq: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if kind == STREAM_CHUNK:
            self.chunks.append(body)
            self.started = True
        elif kind == STREAM_HEARTBEAT:
            self.heartbeats += 1
        elif kind == STREAM_END:
            self.end_body, self.end_headers = body, headers or {}


@dataclass(frozen=True)
class ExampleResult:
    """How one example of a contract fared: ``problem`` is None when it passed."""

    contract: str
    """``<name>/v<N>``."""
    example: str
    problem: str | None = None

    @property
    def passed(self) -> bool:
        return self.problem is None

    def __str__(self) -> str:
        if self.problem is None:
            return f"PASS {self.contract} {self.example!r}"
        return f"FAIL {self.contract} {self.example!r}: {self.problem}"


class TestClient:
    """Calls a worker's handlers without NATS, through the path a served request takes.

    The same checks run, in the same order, with the same error codes and log lines: the
    contract digest (if a ``Nb-Contract-Digest`` header is given), the deadline (the
    contract's timeout, or ``timeout``), the request schema, the handler in its pool (a
    process pool starts for the call), and the reply schema, or each chunk's for a stream
    contract. It works in a notebook and in async tests too (``acall``, ``astream``).
    """

    __test__ = False  # a class named Test* is not a pytest test class

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def call(
        self,
        contract: str,
        request: Any,
        *,
        version: int = 1,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Return the reply to ``request`` as JSON values, or raise :class:`CallError`.

        ``request`` is a JSON value; bytes are sent as they are (e.g. a body that is not JSON).
        For a stream contract, the reply is its chunks merged as the gateway merges them for
        a client that asks for ``application/json`` (the contract's ``merge``), checked
        against the response schema; a stream contract without ``merge`` raises ValueError:
        use :meth:`stream`.
        """
        return run_blocking(
            self.acall(contract, request, version=version, headers=headers, timeout=timeout)
        )

    def exchange(
        self,
        contract: str,
        request: Any,
        *,
        version: int = 1,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Exchange:
        """Like :meth:`call`, with the reply's attempts and usage; for a stream contract the
        value is the list of chunks, and ``verdict`` the end's judgement (repair ``verdict``).

        Raises :class:`CallError`, whose ``attempts`` and ``usage`` are set the same way.
        """
        return run_blocking(
            self.aexchange(contract, request, version=version, headers=headers, timeout=timeout)
        )

    async def aexchange(
        self,
        contract: str,
        request: Any,
        *,
        version: int = 1,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Exchange:
        """:meth:`exchange`, for code that already runs an event loop."""
        route = self._route(contract_ref(contract, version))
        data, sent = _request(request, headers, timeout)
        async with self.worker.pipeline() as pipeline:
            if route.streams:
                collected = await self._collect_stream(pipeline, route, data, sent)
                attempts, usage = accounts(collected.end_headers)
                chunks = [exactjson.parse(chunk) for chunk in collected.chunks]
                end = exactjson.parse(collected.end_body) if collected.end_body else {}
                verdict = end.get("verdict")
                return Exchange(chunks, attempts, usage, collected.end_headers, verdict)
            reply = await self._send(pipeline, route, data, sent)
        attempts, usage = accounts(reply.headers)
        return Exchange(exactjson.parse(reply.body), attempts, usage, reply.headers)

    async def acall(
        self,
        contract: str,
        request: Any,
        *,
        version: int = 1,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """:meth:`call`, for code that already runs an event loop."""
        route = self._route(contract_ref(contract, version))
        if not route.streams:
            exchange = await self.aexchange(
                contract, request, version=version, headers=headers, timeout=timeout
            )
            return exchange.value
        if route.contract.merge is None:
            raise ValueError(
                f"{route.contract.ref} is a stream contract without merge: its chunks do not "
                "make one reply; use stream() for them"
            )
        data, sent = _request(request, headers, timeout)
        async with self.worker.pipeline() as pipeline:
            chunks = await self._send_stream(pipeline, route, data, sent)
        return exactjson.parse(merged_reply(route.contract, chunks))

    def call_many(
        self,
        contract: str,
        requests: Sequence[Any],
        *,
        version: int = 1,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> list[Any]:
        """Send ``requests`` at once, as concurrent callers would; return the replies in order.

        They are served by one worker session, so a batch handler gets them in batches as it
        would when served (``Batch(max_size=...)`` of them at most per call). A request that
        fails has its :class:`CallError` in the list, in its place, rather than raised, so
        that a test can check which caller got which error. Sync and job contracts only.
        """
        return run_blocking(
            self.acall_many(contract, requests, version=version, headers=headers, timeout=timeout)
        )

    async def acall_many(
        self,
        contract: str,
        requests: Sequence[Any],
        *,
        version: int = 1,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> list[Any]:
        """:meth:`call_many`, for code that already runs an event loop."""
        route = self._route(contract_ref(contract, version))
        if route.streams:
            raise ValueError(f"{route.contract.ref} is a stream contract: use stream() for each")
        sent = [_request(request, headers, timeout) for request in requests]

        async def one(pipeline: Pipeline, data: bytes, sent_headers: dict[str, str]) -> Any:
            try:
                reply = await self._send(pipeline, route, data, sent_headers)
                return exactjson.parse(reply.body)
            except CallError as error:
                return error

        async with self.worker.pipeline() as pipeline:
            return list(await asyncio.gather(*(one(pipeline, *request) for request in sent)))

    def stream(
        self,
        contract: str,
        request: Any,
        *,
        version: int = 1,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> list[Any]:
        """Return the chunks a stream contract's handler yields for ``request``, in order.

        Each chunk is checked against the chunk schema before the next is asked for, as a
        served stream does; the first failure raises :class:`CallError`, whose ``chunks``
        are those sent before it.
        """
        return run_blocking(
            self.astream(contract, request, version=version, headers=headers, timeout=timeout)
        )

    async def astream(
        self,
        contract: str,
        request: Any,
        *,
        version: int = 1,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> list[Any]:
        """:meth:`stream`, for code that already runs an event loop."""
        route = self._route(contract_ref(contract, version))
        if not route.streams:
            raise ValueError(f"{route.contract.ref} is a sync contract: use call()")
        data, sent = _request(request, headers, timeout)
        async with self.worker.pipeline() as pipeline:
            chunks = await self._send_stream(pipeline, route, data, sent)
        return [exactjson.parse(chunk) for chunk in chunks]

    def run_examples(self, contracts: Iterable[str] | None = None) -> list[ExampleResult]:
        """Run every example of the contracts the worker serves; see :meth:`arun_examples`."""
        return run_blocking(self.arun_examples(contracts))

    async def arun_examples(self, contracts: Iterable[str] | None = None) -> list[ExampleResult]:
        """Run every example of every contract served (or of ``contracts``: names or refs).

        An example passes when the reply is not an error and, if the example gives a
        response, equals it as JSON (``1.0`` equals ``1``, ``true`` does not). The reply of a
        stream contract is its chunks merged (each chunk, and the merged reply, checked
        against their schemas); without ``merge``, its chunks only are checked.
        """
        async with self.worker.pipeline() as pipeline:
            return [
                await self._run_example(pipeline, ref, example)
                for ref, example in self.examples(contracts)
            ]

    def run_example(self, ref: str, example: Example) -> ExampleResult:
        """Run one example of contract ``ref`` (``<name>/v<N>``)."""

        async def run() -> ExampleResult:
            async with self.worker.pipeline() as pipeline:
                return await self._run_example(pipeline, ref, example)

        return run_blocking(run())

    def examples(self, contracts: Iterable[str] | None = None) -> list[tuple[str, Example]]:
        """(ref, example) for every example of the served contracts, or of ``contracts``."""
        wanted = set(contracts) if contracts is not None else None
        return [
            (ref, example)
            for ref, route in sorted(self.worker.routes.items())
            if wanted is None or {route.contract.name, ref} & wanted
            for example in route.contract.examples
        ]

    async def _run_example(self, pipeline: Pipeline, ref: str, example: Example) -> ExampleResult:
        data = exactjson.dumps(example.request)
        route = self._route(ref)
        try:
            if not route.streams:
                body = (await self._send(pipeline, route, data, {})).body
            else:
                chunks = await self._send_stream(pipeline, route, data, {})
                if route.contract.merge is None:
                    if example.response is None:
                        return ExampleResult(ref, example.name)
                    return ExampleResult(
                        ref,
                        example.name,
                        f"the example gives a response, but {ref} declares no merge that "
                        "makes one of its chunks",
                    )
                body = merged_reply(route.contract, chunks)
        except CallError as error:
            return ExampleResult(ref, example.name, str(error))
        if example.response is not None:
            got = exactjson.parse_exact(body)
            if not same_json(got, example.response):
                expected = exactjson.dumps(example.response).decode()
                return ExampleResult(
                    ref,
                    example.name,
                    "the reply differs from the example's response\n"
                    f"  expected {expected}\n       got {body.decode()}",
                )
        return ExampleResult(ref, example.name)

    async def _send(
        self, pipeline: Pipeline, route: Route, data: bytes, headers: dict[str, str]
    ) -> Reply:
        request_id = headers.get(HEADER_REQUEST_ID) or f"test-{uuid.uuid4().hex[:12]}"
        try:
            reply = await pipeline.process(route, data, headers, request_id)
        except ErrorReply as error:
            raise _call_error(error) from None
        assert reply is not None
        return reply

    async def _send_stream(
        self, pipeline: Pipeline, route: Route, data: bytes, headers: dict[str, str]
    ) -> list[bytes]:
        return (await self._collect_stream(pipeline, route, data, headers)).chunks

    async def _collect_stream(
        self, pipeline: Pipeline, route: Route, data: bytes, headers: dict[str, str]
    ) -> "_CollectedStream":
        request_id = headers.get(HEADER_REQUEST_ID) or f"test-{uuid.uuid4().hex[:12]}"
        stream = _CollectedStream()
        runtime = pipeline.runtime
        running = set(runtime.stragglers)
        try:
            await pipeline.process(route, data, headers, request_id, stream)
        except ErrorReply as error:
            raise _call_error(error, stream.chunks) from None
        finally:
            # A generator stopped early (a bad chunk, the deadline) runs its finally blocks
            # before the call returns, as a test of them expects.
            stopping = runtime.stragglers - running
            if stopping:
                await asyncio.wait(stopping, timeout=STOP_WAIT_SECONDS)
        return stream

    def _route(self, ref: str) -> Route:
        route = self.worker.routes.get(ref)
        if route is None:
            served = ", ".join(self.worker.served) or "nothing"
            raise LookupError(
                f"worker {self.worker.name} has no handler for {ref} (it serves {served})"
            )
        return route


def _request(
    request: Any, headers: Mapping[str, str] | None, timeout: float | None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a call: bytes go as they are, a deadline ``timeout`` away."""
    data = request if isinstance(request, bytes) else exactjson.dumps(request)
    sent = dict(headers or {})
    if timeout is not None:
        sent.setdefault(HEADER_DEADLINE, str(int((time.time() + timeout) * 1000)))
    return data, sent


def _call_error(error: ErrorReply, chunks: list[bytes] | None = None) -> CallError:
    violations = exactjson.parse(error.body)["violations"] if error.body else []
    sent = [exactjson.parse(chunk) for chunk in chunks or []]
    attempts, usage = accounts(error.headers)
    return CallError(error.code, error.message, violations, sent, attempts=attempts, usage=usage)
