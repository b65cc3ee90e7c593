"""Testing a worker: offline through its handlers, or as real processes on a real NATS server.

Offline, with no NATS: :class:`TestClient` sends a request through the path a served request
takes (digest, deadline, request schema, handler, its pool, reply schema), and runs the
examples of the worker's contracts::

    from notebridge_worker.testing import TestClient
    from my_worker import worker

    def test_summarize():
        reply = TestClient(worker).call("summarize", {"text": "One. Two."}, version=1)
        assert reply["summary"] == "One."

    def test_every_example():
        assert all(result.passed for result in TestClient(worker).run_examples())

    def test_generate_streams():  # a stream contract: the validated chunks, in order
        chunks = TestClient(worker).stream("generate", {"prompt": "Once"})

    def test_score_in_batches():  # concurrent callers, so that a batch handler sees batches
        replies = TestClient(worker).call_many("score", [{"x": 1}, {"x": 2}])

Real processes::

    with run_nats_server() as nats_url:
        with run_worker_process("my_module:worker", nats_url, "contracts") as worker:
            ...  # send requests to nats_url; worker.log() has what the worker logged
"""

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from notebridge_worker import exactjson
from notebridge_worker._blocking import run_blocking
from notebridge_worker.contracts import Contract, Example, Violation
from notebridge_worker.protocol import (
    HEADER_DEADLINE,
    HEADER_REQUEST_ID,
    INVALID_REPLY,
    STREAM_CHUNK,
    STREAM_HEARTBEAT,
    contract_ref,
)
from notebridge_worker.worker import (
    Worker,
    _describe,
    _ErrorReply,
    _Route,
    _Runtime,
    _StreamSink,
    _violations_body,
)

READY_LINE = re.compile(r"worker \S+ serving .+ on nats://")
"""What a worker logs once its endpoints are subscribed."""
NATS_URL_LINE = re.compile(r"^nats://\S+$")
STOP_WAIT_SECONDS = 5.0
"""How long a stream call waits for a generator it stopped to run its finally blocks."""


class CallError(Exception):
    """The error reply a served request would have got: its code, message and violations.

    For a stream, ``chunks`` holds the chunks sent before the error (as JSON values).
    """

    def __init__(
        self,
        code: str,
        message: str,
        violations: list[Violation],
        chunks: list[Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.violations = violations
        self.chunks = chunks or []


class _CollectedStream(_StreamSink):
    """A stream that keeps its chunks, as the bytes the worker would send."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []
        self.heartbeats = 0

    async def send(self, kind: str, body: bytes = b"", seq: int | None = None) -> None:
        if kind == STREAM_CHUNK:
            self.chunks.append(body)
            self.started = True
        elif kind == STREAM_HEARTBEAT:
            self.heartbeats += 1


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
        data, sent = _request(request, headers, timeout)
        if route.streams and route.contract.merge is None:
            raise ValueError(
                f"{route.contract.ref} is a stream contract without merge: its chunks do not "
                "make one reply; use stream() for them"
            )
        async with self.worker._started() as runtime:
            if route.streams:
                chunks = await self._send_stream(runtime, route, data, sent)
                return exactjson.parse(_merged(route.contract, chunks))
            return exactjson.parse(await self._send(runtime, route, data, sent))

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

        async def one(runtime: _Runtime, data: bytes, sent_headers: dict[str, str]) -> Any:
            try:
                return exactjson.parse(await self._send(runtime, route, data, sent_headers))
            except CallError as error:
                return error

        async with self.worker._started() as runtime:
            return list(await asyncio.gather(*(one(runtime, *request) for request in sent)))

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
        async with self.worker._started() as runtime:
            chunks = await self._send_stream(runtime, route, data, sent)
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
        async with self.worker._started() as runtime:
            return [
                await self._run_example(runtime, ref, example)
                for ref, example in self.examples(contracts)
            ]

    def run_example(self, ref: str, example: Example) -> ExampleResult:
        """Run one example of contract ``ref`` (``<name>/v<N>``)."""

        async def run() -> ExampleResult:
            async with self.worker._started() as runtime:
                return await self._run_example(runtime, ref, example)

        return run_blocking(run())

    def examples(self, contracts: Iterable[str] | None = None) -> list[tuple[str, Example]]:
        """(ref, example) for every example of the served contracts, or of ``contracts``."""
        wanted = set(contracts) if contracts is not None else None
        return [
            (ref, example)
            for ref, route in sorted(self.worker._routes.items())
            if wanted is None or {route.contract.name, ref} & wanted
            for example in route.contract.examples
        ]

    async def _run_example(self, runtime: _Runtime, ref: str, example: Example) -> ExampleResult:
        data = exactjson.dumps(example.request)
        route = self._route(ref)
        try:
            if not route.streams:
                body = await self._send(runtime, route, data, {})
            else:
                chunks = await self._send_stream(runtime, route, data, {})
                if route.contract.merge is None:
                    if example.response is None:
                        return ExampleResult(ref, example.name)
                    return ExampleResult(
                        ref,
                        example.name,
                        f"the example gives a response, but {ref} declares no merge that "
                        "makes one of its chunks",
                    )
                body = _merged(route.contract, chunks)
        except CallError as error:
            return ExampleResult(ref, example.name, str(error))
        if example.response is not None:
            got = exactjson.parse_exact(body)
            if not _same_json(got, example.response):
                expected = exactjson.dumps(example.response).decode()
                return ExampleResult(
                    ref,
                    example.name,
                    "the reply differs from the example's response\n"
                    f"  expected {expected}\n       got {body.decode()}",
                )
        return ExampleResult(ref, example.name)

    async def _send(
        self, runtime: _Runtime, route: _Route, data: bytes, headers: dict[str, str]
    ) -> bytes:
        request_id = headers.get(HEADER_REQUEST_ID) or f"test-{uuid.uuid4().hex[:12]}"
        try:
            body = await self.worker._process(runtime, route, data, headers, request_id)
        except _ErrorReply as error:
            raise _call_error(error) from None
        assert body is not None
        return body

    async def _send_stream(
        self, runtime: _Runtime, route: _Route, data: bytes, headers: dict[str, str]
    ) -> list[bytes]:
        request_id = headers.get(HEADER_REQUEST_ID) or f"test-{uuid.uuid4().hex[:12]}"
        stream = _CollectedStream()
        running = set(runtime.stragglers)
        try:
            await self.worker._process(runtime, route, data, headers, request_id, stream)
        except _ErrorReply as error:
            raise _call_error(error, stream.chunks) from None
        finally:
            # A generator stopped early (a bad chunk, the deadline) runs its finally blocks
            # before the call returns, as a test of them expects.
            stopping = runtime.stragglers - running
            if stopping:
                await asyncio.wait(stopping, timeout=STOP_WAIT_SECONDS)
        return stream.chunks

    def _route(self, ref: str) -> _Route:
        route = self.worker._routes.get(ref)
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


def _call_error(error: _ErrorReply, chunks: list[bytes] | None = None) -> CallError:
    violations = exactjson.parse(error.body)["violations"] if error.body else []
    sent = [exactjson.parse(chunk) for chunk in chunks or []]
    return CallError(error.code, error.message, violations, sent)


def _merged(contract: Contract, chunks: list[bytes]) -> bytes:
    """The chunks merged as the gateway merges them, checked against the response schema."""
    assert contract.merge is not None
    sent = [exactjson.parse(chunk) for chunk in chunks]
    try:
        merged = contract.merge.apply([exactjson.parse_exact(chunk) for chunk in chunks])
    except ValueError as error:
        raise CallError(INVALID_REPLY, f"{contract.ref}: {error}", [], sent) from None
    body = exactjson.dumps(merged)
    found = contract.response_violations(exactjson.parse_exact(body))
    if found:
        raise CallError(
            INVALID_REPLY,
            f"{contract.ref} merged reply broke the contract: {_describe(found, 'reply')}",
            exactjson.parse(_violations_body(found))["violations"],
            sent,
        )
    return body


def _same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values: numbers by value (1.0 == 1), but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float | Decimal):
        return isinstance(b, int | float | Decimal) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict) and a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same_json, a, b))
    return type(a) is type(b) and a == b


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
        return _terminate(self.process, timeout)


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
            _terminate(process)


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

    ``args`` are more options of ``run`` (``["--pool", "process"]``).
    """
    command = [sys.executable, "-m", "notebridge_worker", "run", target, "--nats-url", nats_url]
    if contracts_dir is not None:
        command += ["--contracts-dir", os.fspath(contracts_dir)]
    if name is not None:
        command += ["--name", name]
    if max_inflight is not None:
        command += ["--max-inflight", str(max_inflight)]
    command += args
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
