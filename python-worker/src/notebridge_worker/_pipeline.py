"""The path of one request through a worker, in the order it happens.

Every request takes this path, however it arrived: a NATS micro endpoint (worker.py), a job
pulled from JetStream (jobs/puller.py) or a call of the offline TestClient (testing/).

1. ``Pipeline.process`` checks what every request needs checked, as docs/protocol.md
   prescribes: the contract digest the caller sent (``drift``), the deadline
   (``deadline_exceeded`` when it passed before the handler starts), and the request schema
   with the numbers of the protocol's domain (``invalid_request``). The request becomes the
   handler's argument (a dict, or the pydantic model the handler asked for) and gets its
   RequestContext.
2. The contract's mode picks the run: ``_run_sync`` for sync and job contracts (one reply),
   ``_run_stream`` for stream contracts (chunks, heartbeats, the end).
3. ``_call`` runs the handler until the deadline: ``async def`` on the event loop, plain
   ``def`` in the thread or the process pool, batch handlers in their next batch
   (batching.py). What it raises maps to an error reply: ServiceError to its code, anything
   else to ``internal`` (logged with its traceback, never sent).
4. The reply (or each chunk) is encoded and checked against the response (chunk) schema
   before it leaves (``invalid_reply``, with every violation), then by the contract's
   checks (``@worker.check``). A contract with ``repair`` calls the handler again with the
   violations (``_run_sync``, notebridge_worker.repair) until a reply passes or it must stop.

Every error is an ErrorReply; the caller turns it into the reply its transport sends.
"""

import asyncio
import contextvars
import functools
import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from notebridge_worker._checks import (
    as_json_value,
    as_model,
    checked_chunk,
    checked_reply,
    checked_request,
)
from notebridge_worker._eager import start_eagerly
from notebridge_worker._repairing import (
    judge,
    next_attempt,
    reply_headers,
    run_buffered_stream,
    run_checks,
)
from notebridge_worker._routes import Route
from notebridge_worker._runtime import Runtime
from notebridge_worker._streams import END, AsyncChunks, StreamSink, ThreadChunks
from notebridge_worker.batching import BatchFailed, batcher_for
from notebridge_worker.config import WorkerConfig
from notebridge_worker.context import JobHandle, RequestContext
from notebridge_worker.contracts import Violation
from notebridge_worker.errors import ErrorReply, ServiceError
from notebridge_worker.protocol import (
    DEADLINE_EXCEEDED,
    DRIFT,
    HEADER_CONTRACT_DIGEST,
    HEADER_DEADLINE,
    INTERNAL,
    INVALID_REPLY,
    INVALID_REQUEST,
    STREAM_CHUNK,
    STREAM_END,
    STREAM_HEARTBEAT,
    heartbeat_interval,
    subject,
)
from notebridge_worker.repair import ReplyCheck
from notebridge_worker.tracing import attempt_span, mark_failed, request_span

logger = logging.getLogger("notebridge_worker")


@dataclass(frozen=True)
class Reply:
    """A reply's body and the headers that go with it (Nb-Attempts, Nb-Usage)."""

    body: bytes
    headers: dict[str, str]


class Pipeline:
    """Runs requests through the steps above, for one serving session.

    ``runtime`` holds the session's pools and work in flight; ``config`` says which pool a
    plain ``def`` runs in by default and how numbers reach handlers.
    """

    def __init__(
        self,
        runtime: Runtime,
        config: WorkerConfig,
        checks: Mapping[str, Sequence[ReplyCheck]] | None = None,
    ) -> None:
        self.runtime = runtime
        self.config = config
        self.checks = checks if checks is not None else {}
        """Each contract's code-level checks of its replies, by ref (``@worker.check``)."""

    async def process(
        self,
        route: Route,
        data: bytes,
        headers: Mapping[str, str],
        request_id: str,
        stream: StreamSink | None = None,
        job: JobHandle | None = None,
    ) -> Reply | None:
        """Check a request as docs/protocol.md prescribes, run it, and return the reply body.

        ``job`` is the attempt's jobs.JobControl when the request is a job (jobs/).

        A stream contract's request sends its messages to ``stream`` and returns None.
        Raises ErrorReply for every answer that is an error (for a stream, its last
        message). The offline TestClient calls this too, so that a test runs the path
        production runs.
        """
        contract = route.contract
        target = subject(contract.name, contract.version)
        with request_span(contract.ref, target, request_id, headers) as span:
            try:
                return await self._process(route, data, headers, request_id, stream, job)
            except ErrorReply as error:
                mark_failed(span, error.code)
                raise

    async def _process(
        self,
        route: Route,
        data: bytes,
        headers: Mapping[str, str],
        request_id: str,
        stream: StreamSink | None,
        job: JobHandle | None,
    ) -> Reply | None:
        received_at = time.time()
        contract = route.contract
        sent_digest = headers.get(HEADER_CONTRACT_DIGEST)
        if sent_digest and sent_digest != contract.digest:
            raise ErrorReply(
                DRIFT,
                f"contract drift on {contract.ref}: the caller's schemas have digest "
                f"{sent_digest}, this worker's have {contract.digest}",
            )
        deadline = _deadline(headers, received_at, contract.timeout_seconds)
        if time.time() >= deadline:
            logger.warning(
                "skipped request %s to %s: its deadline passed before it started",
                request_id,
                contract.ref,
            )
            raise ErrorReply(
                DEADLINE_EXCEEDED,
                f"the deadline of request {request_id} passed before {contract.ref} started",
            )
        argument = checked_request(contract, data, self.config.exact_numbers)
        context = RequestContext(
            request_id=request_id,
            deadline=deadline,
            contract=contract.name,
            version=contract.version,
            headers=headers,
            job=job,
        )
        if route.request_model is not None:
            argument = as_model(route, argument, request_id)
        if contract.repair is None:
            return await self._run(route, argument, context, stream)
        try:
            reply = await self._run(route, argument, context, stream)
        except ErrorReply as error:
            outcome = "unrepaired" if error.code == INVALID_REPLY else "failed"
            self.runtime.count_repair(contract.ref, context.reply_attempt, outcome)
            raise
        outcome = "repaired" if context.reply_attempt > 1 else "first_attempt"
        self.runtime.count_repair(contract.ref, context.reply_attempt, outcome)
        return reply

    async def _run(
        self, route: Route, argument: Any, context: RequestContext, stream: StreamSink | None
    ) -> Reply | None:
        """Run a checked request the way its contract's mode says."""
        contract = route.contract
        # Each contract mode runs a request its own way: a sync request gets one reply, a
        # stream request a sequence of messages.
        if route.streams:
            if stream is None:
                raise RuntimeError(f"{contract.ref} is a stream contract: it needs a stream")
            if contract.repair is not None and contract.repair.stream == "buffer":
                checks = self.checks.get(contract.ref, ())

                async def attempt(held: StreamSink) -> None:
                    await self._run_stream(route, argument, context, held)

                await run_buffered_stream(attempt, contract, checks, argument, context, stream)
            else:
                await self._run_stream(route, argument, context, stream)
            return None
        return await self._run_sync(route, argument, context)

    async def _run_sync(self, route: Route, argument: Any, context: RequestContext) -> Reply:
        """Call the handler until its reply passes the schema and the checks, or it must stop.

        Without ``repair`` in the contract there is one attempt. With it, a reply that breaks
        the contract goes back to the handler (``context.repair``) until ``max_attempts``,
        the deadline, the budget, or an attempt whose violations equal the previous one's.
        Every attempt's usage is sent, whatever the outcome.
        """
        contract = route.contract
        policy = contract.repair
        checks = self.checks.get(contract.ref, ())
        repairs = policy is not None
        previous: list[Violation] | None = None
        while True:
            reply: Any = None
            try:
                with attempt_span(contract.ref, context.reply_attempt, repairs):
                    reply = as_json_value(await self._call(route, argument, context))
                    body = checked_reply(contract, reply, context.request_id)
                    if checks:
                        run_checks(
                            route.contract.ref,
                            checks,
                            reply,
                            as_json_value(argument),
                            context.request_id,
                        )
                    return Reply(body, reply_headers(context, repairs))
            except ErrorReply as error:
                error.headers = reply_headers(context, repairs)
                if policy is None or error.code != INVALID_REPLY or not error.violations:
                    raise
                found = error.violations
            next_attempt(contract.ref, policy, context, found, previous, reply, "reply")
            previous = found

    async def _run_stream(
        self,
        route: Route,
        argument: Any,
        context: RequestContext,
        stream: StreamSink,
    ) -> None:
        """Send the generator's chunks, heartbeats while it is silent, then the end.

        The generator is stopped (an async one cancelled, a plain one closed after its
        current ``next()``) when the caller cancels, when the deadline passes, when a chunk
        breaks the chunk schema, and when the worker gives up on the request; its ``finally``
        blocks run then, and it holds its in-flight slot until they have. Raises ErrorReply
        for a failure, which the caller sends as the stream's last message.
        """
        contract = route.contract
        ref, request_id = contract.ref, context.request_id
        judged = contract.repair is not None and contract.repair.stream == "verdict"
        sent_chunks: list[bytes] = []
        label = f"handler {ref} (request {request_id})"
        generator = route.call(argument, context)
        chunks: AsyncChunks | ThreadChunks = (
            AsyncChunks(generator, label)
            if route.is_async
            else ThreadChunks(generator, self.runtime.thread_pool, label)
        )
        loop = asyncio.get_running_loop()
        silence = heartbeat_interval(contract.idle_timeout_seconds)
        last_sent = loop.time()
        cancelled = asyncio.ensure_future(stream.cancelled.wait())
        step: asyncio.Future[Any] | None = None
        exhausted = False
        sent = 0
        try:
            while True:
                step = None if cancelled.done() else chunks.next()
                while step is not None:
                    wait = min(last_sent + silence - loop.time(), context.time_left())
                    if wait > 0 and not step.done():
                        await asyncio.wait(
                            {step, cancelled}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                        )
                    if cancelled.done() or step.done():
                        break
                    if context.time_left() <= 0:
                        raise ErrorReply(
                            DEADLINE_EXCEEDED,
                            f"{ref} did not finish before the deadline of request "
                            f"{request_id} ({sent} chunks sent)",
                        )
                    if loop.time() >= last_sent + silence:
                        await stream.send(STREAM_HEARTBEAT)
                        last_sent = loop.time()
                if cancelled.done():
                    # The chunk under way, if any, is dropped: nobody reads it any more.
                    logger.info(
                        "%s: the caller cancelled request %s after %d chunks; stopping the handler",
                        ref,
                        request_id,
                        sent,
                    )
                    return
                assert step is not None
                chunk = self._chunk_of(route, step, request_id)
                if chunk is END:
                    exhausted = True
                    break
                body = checked_chunk(contract, chunk, request_id, sent + 1)
                sent += 1
                await stream.send(STREAM_CHUNK, body, seq=sent)
                if judged:
                    sent_chunks.append(body)
                last_sent = loop.time()
            checks = self.checks.get(ref, ())
            verdict = (
                judge(ref, checks, sent_chunks, as_json_value(argument), request_id)
                if judged
                else b""
            )
            headers = reply_headers(context, contract.repair is not None)
            await stream.send(STREAM_END, verdict, seq=sent, headers=headers)
        except ErrorReply as error:
            # A handler that raised is over; one that yielded a bad chunk is not.
            exhausted = exhausted or error.raised_by_handler
            raise
        finally:
            cancelled.cancel()
            if not exhausted:
                # A thread or a task may take a while to stop; the slot stays taken till then.
                self.runtime.keep_until_done(asyncio.ensure_future(chunks.close(step)))

    def _chunk_of(self, route: Route, step: "asyncio.Future[Any]", request_id: str) -> Any:
        """A finished step's chunk, END, or the error reply for what the handler raised."""
        ref = route.contract.ref
        try:
            if step.cancelled():
                raise RuntimeError("the handler's step was cancelled")
            return step.result()
        except ServiceError as error:
            raise ErrorReply(error.code, error.message, raised_by_handler=True) from None
        except Exception:
            logger.exception("handler %s failed on request %s", ref, request_id)
            raise ErrorReply(
                INTERNAL,
                f"internal error in handler {ref} (request {request_id})",
                raised_by_handler=True,
            ) from None

    async def _call(self, route: Route, argument: Any, context: RequestContext) -> Any:
        """Run the handler until the deadline; map what it raises to an error reply.

        A batch handler's request joins its next batch (batching.py): ``work`` is then this
        request's item of the batch's result, and the deadline is this request's own.
        """
        pool: Executor | None = None
        if route.batch is not None:
            kind = route.pool or self.config.pool
            pool = None if route.is_async else self.runtime.pool(kind)
            batcher = batcher_for(
                self.runtime.batchers,
                route,
                None if route.is_async else functools.partial(self.runtime.pool, kind),
            )
            work: asyncio.Future[Any] = batcher.submit(argument, context)
        elif route.is_async:
            work = start_eagerly(route.call(argument, context))
        else:
            pool = self.runtime.pool(route.pool or self.config.pool)
            args, kwargs = route.arguments(argument, context)
            call = functools.partial(route.function, *args, **kwargs)
            if isinstance(pool, ThreadPoolExecutor):
                # The handler's own spans (and any context variable) are the request's.
                call = functools.partial(contextvars.copy_context().run, call)
            work = asyncio.get_running_loop().run_in_executor(pool, call)
        try:
            if not work.done():
                await asyncio.wait({work}, timeout=context.time_left())
        except asyncio.CancelledError:
            # The request is cancelled (the worker stops): an async handler stops with it; a
            # batch goes on without this request.
            work.cancel()
            raise
        ref = route.contract.ref
        if not work.done() or (route.batch is not None and work.cancelled()):
            # A thread or a process cannot be stopped, and a cancelled task may take a while
            # to unwind: each keeps its in-flight slot until it ends, so max_inflight stays a
            # bound (cancelling a thread's future would end its count while it runs on). A
            # request of a batch keeps it until its batch ends; one whose batch had not
            # started is taken out of it (its work cancelled: the deadline passed).
            if route.is_async and route.batch is None:
                work.cancel()
            self.runtime.keep_until_done(work)
            raise ErrorReply(
                DEADLINE_EXCEEDED,
                f"{ref} did not finish before the deadline of request {context.request_id}",
            )
        try:
            return work.result()
        except BatchFailed as error:
            # Logged once for the whole batch; each caller gets its own message.
            raise ErrorReply(INTERNAL, str(error)) from None
        except ServiceError as error:
            raise ErrorReply(error.code, error.message) from None
        except BrokenProcessPool:
            assert pool is not None
            self.runtime.replace_process_pool(pool)
            raise ErrorReply(
                INTERNAL,
                f"the process running {ref} for request {context.request_id} died "
                f"(worker {self.config.name} started a new process pool)",
            ) from None
        except Exception:
            logger.exception("handler %s failed on request %s", ref, context.request_id)
            raise ErrorReply(
                INTERNAL, f"internal error in handler {ref} (request {context.request_id})"
            ) from None


def _deadline(headers: Mapping[str, str], received_at: float, timeout_seconds: float) -> float:
    """The absolute deadline in Unix seconds; without the header, the contract's timeout."""
    raw = headers.get(HEADER_DEADLINE)
    if raw is None:
        return received_at + timeout_seconds
    if not (raw.isascii() and raw.isdigit()):
        raise ErrorReply(
            INVALID_REQUEST, f"{HEADER_DEADLINE} must be Unix time in milliseconds, not {raw!r}"
        )
    return int(raw) / 1000
