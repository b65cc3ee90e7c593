"""The Worker: plain functions registered for contracts, served over NATS.

A request passes through one method per step:

- ``_on_request`` admits it into its own task, or answers ``busy``. nats-py's micro endpoint
  awaits its callback before it reads the endpoint's next message, so a callback that did
  the work itself would serve one request at a time.
- ``_answer`` sends what ``_process`` returns, or the error it raises, and counts it.
- ``_process`` checks what every request needs checked (drift, deadline, the request
  schema) and runs the request the way its contract's mode says: ``_run_sync`` for ``sync``,
  ``_run_stream`` for ``stream``.
- ``_call`` runs the handler on the event loop, in the thread pool or in the process pool,
  until the deadline.
- ``_run_stream`` pulls a generator handler's chunks (an async generator on the event loop,
  a plain one a ``next()`` at a time in the thread pool), checks each against the chunk
  schema and sends it to a ``_StreamSink``: NATS messages to the reply subject when served
  (docs/protocol.md, "Stream mode"), a list for the offline TestClient.
"""

import asyncio
import contextlib
import functools
import inspect
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import typing
import uuid
from collections import defaultdict
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Mapping,
    Sequence,
)
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import EndpointStats, Service

from notebridge_worker import exactjson, fastpath
from notebridge_worker.batching import Batch, BatchFailed, batcher_for
from notebridge_worker.config import (
    BATCHES_IN_FLIGHT,
    DEFAULT_MAX_INFLIGHT,
    POOLS,
    WorkerConfig,
)
from notebridge_worker.connection import NatsOptions, connect
from notebridge_worker.context import RequestContext
from notebridge_worker.contracts import (
    JOB,
    STREAM,
    SYNC,
    Contract,
    ContractError,
    Violation,
    explain,
    load_contracts,
)
from notebridge_worker.errors import ServiceError
from notebridge_worker.notebook import NOTEBOOK_ATTRIBUTE, load_notebook
from notebridge_worker.protocol import (
    BUSY,
    DEADLINE_EXCEEDED,
    DRIFT,
    HEADER_CANCEL,
    HEADER_CONTRACT_DIGEST,
    HEADER_DEADLINE,
    HEADER_REQUEST_ID,
    HEADER_SEQ,
    HEADER_STREAM,
    INTERNAL,
    INVALID_REPLY,
    INVALID_REQUEST,
    JOB_METADATA_PREFIX,
    QUEUE_GROUP,
    STREAM_CHUNK,
    STREAM_END,
    STREAM_ERROR,
    STREAM_HEARTBEAT,
    contract_ref,
    endpoint_name,
    heartbeat_interval,
    subject,
)
from notebridge_worker.remote import contracts_location, local_contracts_dir
from notebridge_worker.version import __version__

logger = logging.getLogger("notebridge_worker")

DEFAULT_GRACE_SECONDS = 10.0
MAX_ERROR_MESSAGE = 1000
"""Characters of an error message that fit in the reply's Nats-Service-Error header."""
"""Where plain ``def`` handlers run: threads share the process, processes each hold a GIL."""
LEAVE_TIMEOUT_SECONDS = 2.0
"""How long each step of leaving NATS (unsubscribing, draining) waits for the server."""
REPLIES_AFTER_CANCEL_SECONDS = 1.0
"""How long requests cancelled at the end of the grace period get to send their replies."""

HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])


@dataclass(frozen=True)
class _Route:
    """A registered handler and the contract it serves."""

    contract: Contract
    function: Callable[..., Any]
    takes_context: bool
    is_async: bool
    pool: str | None
    """``thread`` or ``process`` for a ``def`` handler that chose; None: the worker's pool."""
    request_model: Any = None
    """The pydantic model the request becomes before the handler gets it, if it asked."""
    streams: bool = False
    """The handler is a generator (stream contract): it yields chunks rather than return."""
    batch: Batch | None = None
    """The handler takes a list of requests and returns a list of replies (batching.py)."""


@dataclass
class _Counters:
    """What ``$SRV.STATS`` reports for one endpoint, counted by the SDK (see _endpoint_stats)."""

    answered: int = 0
    errors: int = 0
    processing_ns: int = 0
    last_error: str = ""


class StartError(Exception):
    """The worker cannot start serving: e.g. a handler cannot run in the process pool."""


class _ErrorReply(Exception):
    """Ends a request with an error reply: the micro error headers and an optional body."""

    def __init__(
        self, code: str, message: str, body: bytes = b"", *, raised_by_handler: bool = False
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.body = body
        self.raised_by_handler = raised_by_handler
        """The handler raised it: a generator that raised is over, there is nothing to stop."""


class _StreamSink:
    """Where the messages of one stream go, in order: chunks, heartbeats, the end.

    ``started`` says a chunk went out: from then on an error is a stream message, before it
    an ordinary error reply. ``cancelled`` is set when the caller asks the handler to stop.
    """

    def __init__(self) -> None:
        self.started = False
        self.cancelled = asyncio.Event()

    async def send(self, kind: str, body: bytes = b"", seq: int | None = None) -> None:
        """Send one message of ``kind`` (a STREAM_* name); ``seq`` for chunks and the end."""
        raise NotImplementedError


class _NatsStream(_StreamSink):
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

    async def send(self, kind: str, body: bytes = b"", seq: int | None = None) -> None:
        await self.request.respond(body, headers=self.headers(kind, seq))
        if kind == STREAM_CHUNK:
            self.started = True


_END = object()
"""What a step of a generator handler returns once the generator is exhausted."""


class _AsyncChunks:
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


class _ThreadChunks:
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
        return _END


def _next_or_end(generator: Any) -> Any:
    # StopIteration cannot cross a future: asyncio refuses to set it as an exception.
    try:
        return next(generator)
    except StopIteration:
        return _END


def _retrieve(step: "asyncio.Future[Any] | None") -> None:
    """Mark a step's exception as seen: it is dropped on purpose, the stream is over."""
    if step is not None and step.done() and not step.cancelled():
        step.exception()


@dataclass
class _Runtime:
    """What a serving session (or one offline test call) owns: pools, work, counters."""

    thread_pool: ThreadPoolExecutor
    new_process_pool: Callable[[], ProcessPoolExecutor] | None
    process_pool: ProcessPoolExecutor | None = None
    answering: dict[str, set["asyncio.Task[None]"]] = field(
        default_factory=lambda: defaultdict(set)
    )
    """Requests being answered, by contract ref."""
    stragglers: set["asyncio.Future[Any]"] = field(default_factory=set)
    """Handlers still running after their request was answered ``deadline_exceeded``."""
    counters: dict[str, _Counters] = field(default_factory=lambda: defaultdict(_Counters))
    batchers: dict[str, Any] = field(default_factory=dict)
    """The batching._Batcher of each batch handler, by contract ref, made on its first request."""

    def inflight(self) -> int:
        """Requests and stragglers: both hold a thread, a process or the loop's time."""
        return sum(len(tasks) for tasks in self.answering.values()) + len(self.stragglers)

    def pool(self, kind: str) -> Executor:
        if kind == "thread":
            return self.thread_pool
        if self.process_pool is None:
            raise RuntimeError("this worker started without a process pool; restart it")
        return self.process_pool

    def answer(self, ref: str, task: "asyncio.Task[None]") -> None:
        tasks = self.answering[ref]
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        task.add_done_callback(_log_unexpected_failure)

    def keep_until_done(self, work: "asyncio.Future[Any]") -> None:
        """Count ``work`` in flight until it ends: a thread or a process cannot be stopped."""
        self.stragglers.add(work)
        work.add_done_callback(self.stragglers.discard)
        work.add_done_callback(_log_unexpected_failure)

    def count(self, ref: str, started_ns: int, error: str | None) -> None:
        counters = self.counters[ref]
        counters.answered += 1
        counters.processing_ns += time.perf_counter_ns() - started_ns
        if error is not None:
            counters.errors += 1
            counters.last_error = error

    def replace_process_pool(self, broken: Executor) -> None:
        """Start a new process pool in place of ``broken`` (once, however many requests saw it)."""
        if broken is self.process_pool and self.new_process_pool is not None:
            logger.error("a process of the pool died; starting a new process pool")
            self.process_pool = self.new_process_pool()
            _close_process_pool(broken)

    async def finish(self, grace_seconds: float, interrupted: asyncio.Event) -> None:
        """Wait for the requests being answered, up to ``grace_seconds`` or ``interrupted``.

        Requests still unfinished then are cancelled, which answers each of them ``busy``
        rather than leaving its caller waiting for its deadline.
        """
        pending: set[asyncio.Future[Any]] = set().union(*self.answering.values())
        if not pending:
            return
        interrupt = asyncio.ensure_future(interrupted.wait())
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + grace_seconds
        try:
            while pending and not interrupt.done() and loop.time() < give_up_at:
                done, _ = await asyncio.wait(
                    pending | {interrupt},
                    timeout=give_up_at - loop.time(),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                pending -= done
        finally:
            interrupt.cancel()
        if pending:
            logger.warning("%d requests unfinished when the worker stopped", len(pending))
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=REPLIES_AFTER_CANCEL_SECONDS)

    def close(self) -> None:
        self.thread_pool.shutdown(wait=False, cancel_futures=True)
        if self.process_pool is not None:
            _close_process_pool(self.process_pool)


class Worker:
    """Serves handlers for notebridge contracts over NATS.

    The contracts come from ``$NOTEBRIDGE_CONTRACTS_URL`` or ``$NOTEBRIDGE_CONTRACTS_DIR``
    when the deployment sets one (``--contracts-url``/``--contracts-dir`` do), else from
    ``contracts_dir``, relative to the file that builds the Worker (a notebook: the
    notebook's folder), else from ``./contracts``; an http(s) URL names a gateway to fetch
    them from (notebridge_worker.remote). They are loaded at once, so a broken schema or a
    missing folder fails here rather than on a request.
    ``name``, ``max_inflight``, ``pool``, ``pool_size`` and ``exact_numbers`` make its
    :class:`WorkerConfig` (or pass ``config=``), validated at once: ``max_inflight`` bounds the
    requests this process works on at once, past it requests are answered ``busy`` at once
    rather than queued (default 64, or four batches of the largest batch handler); plain
    ``def`` handlers run in a ``pool``, ``"thread"`` or ``"process"`` for CPU-bound code that
    holds the GIL; with ``exact_numbers``, numbers with a fraction reach handlers as
    :class:`decimal.Decimal`, digit for digit, otherwise as float.
    """

    def __init__(
        self,
        name: str = "notebridge",
        contracts_dir: str | os.PathLike[str] | None = None,
        max_inflight: int | None = None,
        *,
        pool: str = "thread",
        pool_size: int | None = None,
        exact_numbers: bool = False,
        config: WorkerConfig | None = None,
    ) -> None:
        given = WorkerConfig(
            name=name,
            max_inflight=max_inflight,
            pool=pool,
            pool_size=pool_size,
            exact_numbers=exact_numbers,
        )
        self.config = given if config is None else config
        """How this worker serves (WorkerConfig); :meth:`configure` replaces it."""
        # Absolute, so that it still names the same directory if the working directory
        # changes; an http(s) URL names a gateway, whose contracts are cached (remote.py).
        frame = inspect.currentframe()
        caller = frame.f_back if frame is not None else None
        defining_file = caller.f_globals.get("__file__") if caller is not None else None
        self.contracts_dir, source = contracts_location(contracts_dir, defining_file)
        self.contracts: dict[str, Contract] = load_contracts(self.contracts_dir)
        logger.info("worker %s: contracts from %s (%s)", name, source, self.contracts_dir)
        self._routes: dict[str, _Route] = {}
        self._endpoints: dict[str, str] = {}
        """Contract ref of each micro endpoint name, while serving."""
        self._runtime: _Runtime | None = None
        self._stop_requested: asyncio.Event | None = None
        self._interrupted: asyncio.Event | None = None
        self._cancel_prefix = ""
        """Streams' cancel subjects are this, a dot and a token of _streams, while serving."""
        self._streams: dict[str, _NatsStream] = {}
        self._stream_tokens = itertools.count(1)

    def handler(
        self,
        contract: str,
        *,
        version: int = 1,
        pool: str | None = None,
        batch: Batch | None = None,
    ) -> Callable[[HandlerT], HandlerT]:
        """Register the decorated function as the handler of a contract version.

        The function is returned unchanged, so it can still be called directly. It takes the
        request and optionally a :class:`RequestContext`, and returns the response. The
        request is a dict, or a pydantic model if the first parameter is annotated with one;
        the response a dict or a pydantic model. ``async def`` handlers run on the event
        loop; plain ``def`` handlers in the worker's pool, or in the ``pool`` given here.
        The handler of a ``stream`` contract is a generator (``def`` or ``async def``) that
        yields the chunks, dicts or pydantic models; a plain generator runs in the thread
        pool, one ``next()`` at a time. The handler of a ``job`` contract returns the job's
        result, as a sync one does; its jobs are pulled from JetStream (notebridge_worker.jobs)
        and it may report progress through its RequestContext. Registering a contract again
        replaces its handler (re-running a notebook cell).

        With ``batch=Batch(max_size=..., max_wait=...)`` (a sync or job contract), concurrent
        requests are grouped: the function takes a list of requests (and optionally a list of
        RequestContext, one each) and returns a list of replies, one per request, in order;
        an item may be a :class:`ServiceError`, which only its caller gets. Each request is
        still checked, timed and answered on its own (notebridge_worker.batching).
        """
        ref = contract_ref(contract, version)
        if ref not in self.contracts:
            known = ", ".join(sorted(self.contracts)) or "none"
            raise ContractError(f"no contract {ref} in {self.contracts_dir} (it has: {known})")
        chosen_pool = None if pool is None else _pool_kind(pool)
        if batch is not None and not isinstance(batch, Batch):
            raise TypeError(
                f"batch must be a notebridge_worker.Batch, e.g. Batch(max_size=64, "
                f"max_wait=0.005), not {batch!r}"
            )
        if batch is not None and self.config.max_inflight and batch.max_size > self.max_inflight:
            logger.warning(
                "%s: batches hold at most max_inflight=%d requests, fewer than max_size=%d",
                ref,
                self.max_inflight,
                batch.max_size,
            )

        def register(function: HandlerT) -> HandlerT:
            self._routes[ref] = _route(self.contracts[ref], function, chosen_pool, batch)
            return function

        return register

    def configure(self, **changes: object) -> None:
        """Replace fields of :attr:`config` (WorkerConfig's names; None leaves one as it is).

        The command line's ``--name``, ``--max-inflight``, ``--pool`` and ``--pool-size`` come
        here; the new config is validated before it replaces the old (ValueError).
        """
        self.config = self.config.replace(**changes)

    @property
    def name(self) -> str:
        """The worker's name: its NATS micro service name."""
        return self.config.name

    @property
    def max_inflight(self) -> int:
        """The bound on requests in flight: WorkerConfig.max_inflight if given, else 64, or
        four of the largest batch if a batch handler is registered and that is more."""
        if self.config.max_inflight is not None:
            return self.config.max_inflight
        batches = [route.batch.max_size for route in self._routes.values() if route.batch]
        return max([DEFAULT_MAX_INFLIGHT, *(BATCHES_IN_FLIGHT * size for size in batches)])

    @property
    def pool(self) -> str:
        """Where plain ``def`` handlers run by default: ``"thread"`` or ``"process"``."""
        return self.config.pool

    @property
    def pool_size(self) -> int | None:
        """Threads or processes of the pool; None for the default (WorkerConfig)."""
        return self.config.pool_size

    @property
    def exact_numbers(self) -> bool:
        """Whether numbers with a fraction reach handlers as decimal.Decimal."""
        return self.config.exact_numbers

    @property
    def served(self) -> list[str]:
        """The contract versions this worker has handlers for, ``<name>/v<N>``, sorted."""
        return sorted(self._routes)

    def use_contracts_dir(self, contracts_dir: str | os.PathLike[str]) -> None:
        """Serve the contracts in ``contracts_dir`` instead of those loaded so far.

        Every registered handler must find its contract there, or ContractError is raised
        and nothing changes.
        """
        contracts_dir = local_contracts_dir(contracts_dir)
        contracts = load_contracts(contracts_dir)
        missing = sorted(ref for ref in self._routes if ref not in contracts)
        if missing:
            raise ContractError(f"{contracts_dir} has no contract {', '.join(missing)}")
        self.contracts_dir, self.contracts = Path(contracts_dir).absolute(), contracts
        # Checked again: the same contract version may have another mode there.
        self._routes = {
            ref: _route(contracts[ref], route.function, route.pool, route.batch)
            for ref, route in self._routes.items()
        }

    @contextlib.asynccontextmanager
    async def serving(
        self, nc: Client, *, grace_seconds: float = DEFAULT_GRACE_SECONDS
    ) -> AsyncIterator[None]:
        """Serve every registered handler on ``nc`` while the ``async with`` block runs.

        On entry the worker is a NATS micro service with one endpoint per handler, its
        subscriptions confirmed by the server and its process pool, if any, started. On exit
        it takes no new requests, lets those in flight finish for up to ``grace_seconds``
        (or until :meth:`stop` is called a second time), answers the rest ``busy``, and
        leaves ``nc`` open.
        """
        if not self._routes:
            raise RuntimeError(
                f"worker {self.name} has no handlers; register one with @worker.handler(...)"
            )
        if self._runtime is not None:
            raise RuntimeError(f"worker {self.name} is already serving")
        self._interrupted = asyncio.Event()
        async with self._started() as runtime:
            self._runtime = runtime
            # Job contracts have no endpoint: their jobs are pulled from JetStream (jobs.py).
            self._endpoints = {
                endpoint_name(route.contract.name, route.contract.version): ref
                for ref, route in self._routes.items()
                if route.contract.mode != JOB
            }
            cancels = None
            from notebridge_worker.jobs import JobPuller  # jobs.py imports this module

            jobs = JobPuller(self, runtime, nc)
            try:
                if any(route.streams for route in self._routes.values()):
                    # One subscription for every stream of this session, rather than one per
                    # stream: see _open_stream.
                    self._cancel_prefix = nc.new_inbox()
                    cancels = await nc.subscribe(f"{self._cancel_prefix}.*", cb=self._on_cancel)
                service = await add_service(
                    nc,
                    name=self.name,
                    version=__version__,
                    description=f"notebridge worker {self.name}",
                    metadata={
                        "sdk": "notebridge-worker-python",
                        "max_inflight": str(self.max_inflight),
                        "pool": self.pool,
                        # Job contracts have no endpoint to discover: the service names
                        # those this process pulls, for the gateway's catalog.
                        **{
                            JOB_METADATA_PREFIX + ref: route.contract.digest
                            for ref, route in self._routes.items()
                            if route.contract.mode == JOB
                        },
                    },
                    stats_handler=self._endpoint_stats,
                )
                try:
                    for endpoint, ref in self._endpoints.items():
                        contract = self._routes[ref].contract
                        await service.add_endpoint(
                            name=endpoint,
                            subject=subject(contract.name, contract.version),
                            queue_group=QUEUE_GROUP,
                            # The handler is looked up per request, so that registering it
                            # again (a re-run notebook cell) takes effect while serving.
                            handler=functools.partial(self._on_request, runtime, ref),
                            metadata={
                                "contract": contract.name,
                                "version": str(contract.version),
                                "digest": contract.digest,
                            },
                        )
                    await _sync_with_server(nc)
                    served = [*self._endpoints.values()] + [
                        f"jobs of {ref}"
                        for ref, route in self._routes.items()
                        if route.contract.mode == JOB
                    ]
                    logger.info(
                        "worker %s serving %s on %s", self.name, ", ".join(served), _server_url(nc)
                    )
                    await jobs.start()
                    yield
                finally:
                    await jobs.stop_pulling()
                    if nc.is_connected:
                        await _within_leave_timeout(
                            _stop_taking_requests(service, nc), "taking the endpoints off NATS"
                        )
                    logger.info(
                        "worker %s takes no new requests; %d in flight may finish within %g s",
                        self.name,
                        sum(len(tasks) for tasks in runtime.answering.values()),
                        grace_seconds,
                    )
                    await runtime.finish(grace_seconds, self._interrupted)
            finally:
                self._runtime = None
                if cancels is not None and nc.is_connected:
                    await _within_leave_timeout(
                        cancels.unsubscribe(), "unsubscribing from stream cancellations"
                    )

    async def serve(self, nc: Client, *, grace_seconds: float = DEFAULT_GRACE_SECONDS) -> None:
        """Serve on ``nc`` until :meth:`stop` is called, then stop gracefully (see serving)."""
        self._stop_requested = asyncio.Event()
        await self._serve_until_stopped(nc, grace_seconds)

    async def _serve_until_stopped(self, nc: Client, grace_seconds: float) -> None:
        assert self._stop_requested is not None
        async with self.serving(nc, grace_seconds=grace_seconds):
            await self._stop_requested.wait()

    def stop(self) -> None:
        """Ask :meth:`serve` to stop gracefully; a second call ends the grace period at once.

        Call it from the event loop's thread (``run`` calls it on SIGTERM and SIGINT).
        """
        if self._stop_requested is None:
            return
        if not self._stop_requested.is_set():
            logger.info("worker %s stopping (stop it again to not wait for requests)", self.name)
            self._stop_requested.set()
        elif self._interrupted is not None and not self._interrupted.is_set():
            logger.warning("worker %s stopping now: requests in flight get busy", self.name)
            self._interrupted.set()

    def run(
        self,
        nats_url: str | None = None,
        *,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
        options: NatsOptions | None = None,
    ) -> None:
        """Connect to NATS and serve until SIGTERM or SIGINT, then stop gracefully.

        ``options`` (URL, credentials, TLS) default to ``NOTEBRIDGE_NATS_*`` variables
        (:meth:`NatsOptions.from_env`); ``nats_url``, if given, replaces their URL. Raises
        ConnectError if the server refuses the credentials.
        """
        options = options or NatsOptions.from_env()
        if nats_url:
            options = replace(options, url=nats_url)
        _run_event_loop(self._connect_and_serve(options, grace_seconds))

    async def _connect_and_serve(self, options: NatsOptions, grace_seconds: float) -> None:
        self._stop_requested = asyncio.Event()
        loop = asyncio.get_running_loop()
        stop_signals = (signal.SIGTERM, signal.SIGINT)
        for signum in stop_signals:
            loop.add_signal_handler(signum, self.stop)
        try:
            # A stop while NATS is still unreachable ends the wait for it.
            connecting = asyncio.ensure_future(
                connect(options, name=f"notebridge-worker {self.name}")
            )
            stopping = asyncio.ensure_future(self._stop_requested.wait())
            await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not connecting.done():
                connecting.cancel()
                logger.info("worker %s stopped before NATS answered", self.name)
                return
            nc = connecting.result()
            try:
                await self._serve_until_stopped(nc, grace_seconds)
            finally:
                # The endpoints are drained already: what is left is to deliver the last
                # replies. (nc.drain() would also do it, but cannot be cut short.)
                if nc.is_connected:
                    await _within_leave_timeout(_sync_with_server(nc), "sending the last replies")
                await _within_leave_timeout(nc.close(), "closing the connection")
        finally:
            for signum in stop_signals:
                loop.remove_signal_handler(signum)

    @contextlib.asynccontextmanager
    async def _started(self) -> AsyncIterator[_Runtime]:
        """The pools the handlers need, for as long as the block runs."""
        in_processes = [
            route
            for route in self._routes.values()
            if not route.is_async and not route.streams and (route.pool or self.pool) == "process"
        ]
        for route in in_processes:
            _check_runs_in_a_process(route)
        threads = self.pool_size if self.pool == "thread" and self.pool_size else self.max_inflight
        processes = self.pool_size if self.pool == "process" and self.pool_size else os.cpu_count()
        runtime = _Runtime(
            thread_pool=ThreadPoolExecutor(threads, thread_name_prefix=f"notebridge-{self.name}"),
            new_process_pool=(
                _process_pool_factory(in_processes, processes or 1) if in_processes else None
            ),
        )
        try:
            if runtime.new_process_pool is not None:
                runtime.process_pool = runtime.new_process_pool()
                await _warm_up(runtime.process_pool, processes or 1)
            yield runtime
        finally:
            runtime.close()

    def _endpoint_stats(self, stats: EndpointStats) -> dict[str, int]:
        """Fill an endpoint's ``$SRV.STATS`` entry with the SDK's own counters.

        micro counts the requests right (its callback sees each one), but the time it counts
        is the callback's, here only the admission of a request, and it never sees an error,
        since the SDK answers every error itself: those counters are replaced by the ones the
        SDK keeps as it answers. ``data`` has the requests in flight.
        """
        runtime, ref = self._runtime, self._endpoints.get(stats.name)
        if runtime is None or ref is None:
            return {}
        counters = runtime.counters[ref]
        stats.num_errors = counters.errors
        stats.last_error = counters.last_error
        stats.processing_time = counters.processing_ns
        stats.average_processing_time = counters.processing_ns // max(counters.answered, 1)
        return {"inflight": len(runtime.answering[ref])}

    async def _on_request(self, runtime: _Runtime, ref: str, request: Request) -> None:
        """Admit a request into its own task, or answer ``busy``; never waits for the work."""
        if runtime.inflight() >= self.max_inflight:
            started = time.perf_counter_ns()
            message = (
                f"worker {self.name} is at its limit of {self.max_inflight} requests in flight"
            )
            await _respond_error(request, BUSY, message)
            runtime.count(ref, started, f"{BUSY}: {message}")
            return
        runtime.answer(ref, asyncio.create_task(self._answer(runtime, ref, request)))

    async def _answer(self, runtime: _Runtime, ref: str, request: Request) -> None:
        started = time.perf_counter_ns()
        headers = request.headers or {}
        request_id = headers.get(HEADER_REQUEST_ID) or uuid.uuid4().hex
        route = self._routes[ref]
        stream = self._open_stream(request) if route.streams else None
        try:
            body = await self._process(runtime, route, request.data, headers, request_id, stream)
        except _ErrorReply as error:
            await _respond_error(request, error.code, error.message, error.body, stream)
            runtime.count(ref, started, f"{error.code}: {error.message}")
            return
        except asyncio.CancelledError:
            # Only stopping cancels a request, once its grace period is over: the caller
            # learns now, and may try another worker, rather than at its deadline.
            message = f"worker {self.name} stopped before request {request_id} finished"
            await _respond_error(request, BUSY, message, stream=stream)
            runtime.count(ref, started, f"{BUSY}: {message}")
            raise
        except Exception:
            # A bug here, or input deep enough to exhaust the stack: the caller still gets
            # an answer rather than waiting for its deadline.
            logger.exception("worker %s failed on request %s to %s", self.name, request_id, ref)
            message = f"internal error in worker {self.name} (request {request_id})"
            await _respond_error(request, INTERNAL, message, stream=stream)
            runtime.count(ref, started, f"{INTERNAL}: {message}")
            return
        finally:
            if stream is not None:
                self._streams.pop(stream.cancel_subject.rsplit(".", 1)[1], None)
        if body is not None:  # a stream has sent its messages already
            try:
                await request.respond(body)
            except Exception:
                logger.exception("could not send the reply to request %s", request_id)
        runtime.count(ref, started, None)

    def _open_stream(self, request: Request) -> _NatsStream:
        """A stream for ``request``, with its own cancel subject.

        Cancel subjects share one wildcard subscription per serving session,
        ``<inbox>.<token>``: one SUB for the whole session rather than a SUB and an UNSUB
        per stream (each a message to the server, and interest every server of a cluster
        must learn), and nothing to clean up when a stream ends. The subject is under the
        connection's inbox prefix, which a worker may already subscribe to and the gateway
        publish to, so NATS permissions need no new rule.
        """
        token = str(next(self._stream_tokens))
        stream = _NatsStream(request, f"{self._cancel_prefix}.{token}")
        self._streams[token] = stream
        return stream

    async def _on_cancel(self, msg: Msg) -> None:
        """The gateway asks a stream to stop: its client left, or its deadline passed."""
        stream = self._streams.get(msg.subject.rsplit(".", 1)[1])
        if stream is not None:
            stream.cancelled.set()

    async def _process(
        self,
        runtime: _Runtime,
        route: _Route,
        data: bytes,
        headers: Mapping[str, str],
        request_id: str,
        stream: _StreamSink | None = None,
        job: Any = None,
    ) -> bytes | None:
        """Check a request as docs/protocol.md prescribes, run it, and return the reply body.

        ``job`` is the attempt's jobs.JobControl when the request is a job (jobs.py).

        A stream contract's request sends its messages to ``stream`` and returns None.
        Raises _ErrorReply for every answer that is an error (for a stream, its last
        message). The offline TestClient calls this too, so that a test runs the path
        production runs.
        """
        received_at = time.time()
        contract = route.contract
        sent_digest = headers.get(HEADER_CONTRACT_DIGEST)
        if sent_digest and sent_digest != contract.digest:
            raise _ErrorReply(
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
            raise _ErrorReply(
                DEADLINE_EXCEEDED,
                f"the deadline of request {request_id} passed before {contract.ref} started",
            )
        argument = _checked_request(contract, data, self.exact_numbers)
        context = RequestContext(
            request_id=request_id,
            deadline=deadline,
            contract=contract.name,
            version=contract.version,
            headers=headers,
            _job=job,
        )
        if route.request_model is not None:
            argument = _as_model(route, argument, request_id)
        # Each contract mode runs a request its own way: a sync request gets one reply, a
        # stream request a sequence of messages.
        if route.streams:
            if stream is None:
                raise RuntimeError(f"{contract.ref} is a stream contract: it needs a stream")
            await self._run_stream(runtime, route, argument, context, stream)
            return None
        return await self._run_sync(runtime, route, argument, context)

    async def _run_sync(
        self, runtime: _Runtime, route: _Route, argument: Any, context: RequestContext
    ) -> bytes:
        reply = await self._call(runtime, route, argument, context)
        return _checked_reply(route.contract, reply, context.request_id)

    async def _run_stream(
        self,
        runtime: _Runtime,
        route: _Route,
        argument: Any,
        context: RequestContext,
        stream: _StreamSink,
    ) -> None:
        """Send the generator's chunks, heartbeats while it is silent, then the end.

        The generator is stopped (an async one cancelled, a plain one closed after its
        current ``next()``) when the caller cancels, when the deadline passes, when a chunk
        breaks the chunk schema, and when the worker gives up on the request; its ``finally``
        blocks run then, and it holds its in-flight slot until they have. Raises _ErrorReply
        for a failure, which the caller sends as the stream's last message.
        """
        contract = route.contract
        ref, request_id = contract.ref, context.request_id
        arguments = (argument, context) if route.takes_context else (argument,)
        label = f"handler {ref} (request {request_id})"
        generator = route.function(*arguments)
        chunks: _AsyncChunks | _ThreadChunks = (
            _AsyncChunks(generator, label)
            if route.is_async
            else _ThreadChunks(generator, runtime.thread_pool, label)
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
                        raise _ErrorReply(
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
                if chunk is _END:
                    exhausted = True
                    break
                body = _checked_chunk(contract, chunk, request_id, sent + 1)
                sent += 1
                await stream.send(STREAM_CHUNK, body, seq=sent)
                last_sent = loop.time()
            await stream.send(STREAM_END, seq=sent)
        except _ErrorReply as error:
            # A handler that raised is over; one that yielded a bad chunk is not.
            exhausted = exhausted or error.raised_by_handler
            raise
        finally:
            cancelled.cancel()
            if not exhausted:
                # A thread or a task may take a while to stop; the slot stays taken till then.
                runtime.keep_until_done(asyncio.ensure_future(chunks.close(step)))

    def _chunk_of(self, route: _Route, step: "asyncio.Future[Any]", request_id: str) -> Any:
        """A finished step's chunk, _END, or the error reply for what the handler raised."""
        ref = route.contract.ref
        try:
            if step.cancelled():
                raise RuntimeError("the handler's step was cancelled")
            return step.result()
        except ServiceError as error:
            raise _ErrorReply(error.code, error.message, raised_by_handler=True) from None
        except Exception:
            logger.exception("handler %s failed on request %s", ref, request_id)
            raise _ErrorReply(
                INTERNAL,
                f"internal error in handler {ref} (request {request_id})",
                raised_by_handler=True,
            ) from None

    async def _call(
        self, runtime: _Runtime, route: _Route, argument: Any, context: RequestContext
    ) -> Any:
        """Run the handler until the deadline; map what it raises to an error reply.

        A batch handler's request joins its next batch (batching.py): ``work`` is then this
        request's item of the batch's result, and the deadline is this request's own.
        """
        arguments = (argument, context) if route.takes_context else (argument,)
        pool: Executor | None = None
        if route.batch is not None:
            kind = route.pool or self.pool
            pool = None if route.is_async else runtime.pool(kind)
            batcher = batcher_for(
                runtime.batchers,
                route,
                None if route.is_async else functools.partial(runtime.pool, kind),
            )
            work: asyncio.Future[Any] = batcher.submit(argument, context)
        elif route.is_async:
            work = _start_eagerly(route.function(*arguments))
        else:
            pool = runtime.pool(route.pool or self.pool)
            work = asyncio.get_running_loop().run_in_executor(
                pool, functools.partial(route.function, *arguments)
            )
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
            runtime.keep_until_done(work)
            raise _ErrorReply(
                DEADLINE_EXCEEDED,
                f"{ref} did not finish before the deadline of request {context.request_id}",
            )
        try:
            return work.result()
        except BatchFailed as error:
            # Logged once for the whole batch; each caller gets its own message.
            raise _ErrorReply(INTERNAL, str(error)) from None
        except ServiceError as error:
            raise _ErrorReply(error.code, error.message) from None
        except BrokenProcessPool:
            assert pool is not None
            runtime.replace_process_pool(pool)
            raise _ErrorReply(
                INTERNAL,
                f"the process running {ref} for request {context.request_id} died "
                f"(worker {self.name} started a new process pool)",
            ) from None
        except Exception:
            logger.exception("handler %s failed on request %s", ref, context.request_id)
            raise _ErrorReply(
                INTERNAL, f"internal error in handler {ref} (request {context.request_id})"
            ) from None


def _start_eagerly(coroutine: Coroutine[Any, Any, Any]) -> "asyncio.Future[Any]":
    """Run a coroutine's first step now, and the rest, if any, in a task of its own.

    Most async handlers of a notebook need no I/O: they end in their first step, and their
    outcome is then a finished future, with no task to create and nothing to wait for (what
    Python 3.12's eager tasks do). One that awaits something goes on in a task from there.
    """
    try:
        step = coroutine.send(None)
    except StopIteration as finished:
        outcome = asyncio.get_running_loop().create_future()
        outcome.set_result(finished.value)
        return outcome
    except (Exception, asyncio.CancelledError) as error:
        outcome = asyncio.get_running_loop().create_future()
        outcome.set_exception(error)
        return outcome
    return asyncio.ensure_future(_resume(coroutine, step))


async def _resume(coroutine: Coroutine[Any, Any, Any], step: Any) -> Any:
    return await _Resumed(coroutine, step)


class _Resumed:
    """The rest of a coroutine whose first step ran already and yielded ``step``.

    Awaited in a task, it hands the task what the coroutine yields (the futures it waits
    for) and the coroutine what the task sends or throws (a cancellation), as ``await``
    would have from the start.
    """

    def __init__(self, coroutine: Coroutine[Any, Any, Any], step: Any) -> None:
        self.coroutine, self.step = coroutine, step

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, step = self.coroutine, self.step
        while True:
            try:
                sent = yield step
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as error:
                try:
                    step = coroutine.throw(error)
                except StopIteration as finished:
                    return finished.value
            else:
                try:
                    step = coroutine.send(sent)
                except StopIteration as finished:
                    return finished.value


def _run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop where it is installed (not on Windows), else on asyncio's loop.

    uvloop's faster socket and callback handling is most of what a small request costs
    outside the handler; the SDK behaves the same on either loop.
    """
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def _pool_kind(pool: str) -> str:
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {', '.join(POOLS)}, not {pool!r}")
    return pool


def _route(
    contract: Contract, function: Callable[..., Any], pool: str | None, batch: Batch | None = None
) -> _Route:
    """Check a handler's shape once, at registration, rather than on every request."""
    name = getattr(function, "__qualname__", repr(function))
    ref = contract.ref
    streams = inspect.isasyncgenfunction(function) or inspect.isgeneratorfunction(function)
    if batch is not None and contract.mode == STREAM:
        raise TypeError(
            f"handler {name} asks for batches, but {ref} is a stream contract: a batch gets "
            "one reply per request, a stream many chunks; register it without batch="
        )
    if contract.mode in (SYNC, JOB) and streams:
        raise TypeError(
            f"handler {name} is a generator, but {ref} is a {contract.mode} contract: return "
            "the reply rather than yield it"
        )
    if contract.mode == STREAM and not streams:
        raise TypeError(
            f"handler {name} is not a generator, but {ref} is a stream contract: yield each "
            "chunk (`yield {...}` in a def or an async def)"
        )
    is_async = inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)
    if is_async and pool is not None:
        raise TypeError(
            f"handler {name} is async: it runs on the event loop, so pool={pool!r} does not "
            "apply (make it a plain def to run it in a pool)"
        )
    if streams and pool == "process":
        raise TypeError(
            f"handler {name} is a generator: it runs in the thread pool, one next() at a "
            "time, since a process cannot hand a generator back between chunks; pool="
            "'process' does not apply"
        )
    parameters = inspect.signature(function).parameters.values()
    positional = [
        p
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    required = [p for p in positional if p.default is inspect.Parameter.empty]
    takes_varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    if (not positional and not takes_varargs) or len(required) > 2:
        if batch is not None:
            raise TypeError(
                f"batch handler {name} must take the list of requests and, optionally, the list "
                "of their RequestContexts"
            )
        raise TypeError(f"handler {name} must take the request and, optionally, a RequestContext")
    annotation = _annotation(function, positional[0]) if positional else None
    if batch is not None:
        # list[Model] for a batch: each request becomes a Model, one by one.
        annotation = _item_annotation(annotation)
    return _Route(
        contract=contract,
        function=function,
        takes_context=len(positional) >= 2 or takes_varargs,
        is_async=is_async,
        pool=pool,
        request_model=_pydantic_model(annotation),
        streams=streams,
        batch=batch,
    )


def _item_annotation(annotation: Any) -> Any:
    """``Model`` for a batch handler's ``list[Model]`` (or ``Sequence[Model]``); else None."""
    if typing.get_origin(annotation) in (list, Sequence):
        arguments = typing.get_args(annotation)
        return arguments[0] if arguments else None
    return None


def _annotation(function: Callable[..., Any], parameter: inspect.Parameter) -> Any:
    """The parameter's annotation, with string annotations resolved where possible."""
    try:
        return typing.get_type_hints(function).get(parameter.name)
    except Exception:
        # An annotation naming something only a type checker imports: not a model.
        return parameter.annotation


def _pydantic_model(annotation: Any) -> Any:
    """``annotation`` if it is a pydantic model class; pydantic is needed only if it is."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or not isinstance(annotation, type):
        return None
    return annotation if issubclass(annotation, pydantic.BaseModel) else None


def _as_model(route: _Route, argument: Any, request_id: str) -> Any:
    """The request as the handler's model; it passed the contract's schema already."""
    model = route.request_model
    try:
        return model.model_validate(argument)
    except ValueError as error:  # pydantic.ValidationError
        # The contract says the request is fine: the model is stricter than the contract.
        logger.error(
            "%s: request %s passed the contract's schema but model %s rejected it; make the "
            "model accept what %s accepts:\n%s",
            route.contract.ref,
            request_id,
            model.__name__,
            route.contract.request_schema_path,
            error,
        )
        raise _ErrorReply(
            INTERNAL,
            f"handler {route.contract.ref}'s model {model.__name__} rejected a request "
            f"the contract accepts (request {request_id})",
        ) from None


def _as_json_value(reply: Any) -> Any:
    """A pydantic model as its JSON value (field aliases as names); anything else as is."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(reply, pydantic.BaseModel):
        return reply.model_dump(mode="json", by_alias=True)
    return reply


def _check_runs_in_a_process(route: _Route) -> None:
    """Fail at start, not on a request, if a process pool cannot run this handler.

    A process pool sends the handler to another process by reference, module and name;
    that process imports the module (or runs the notebook) to find it.
    """
    function = route.function
    name = f"handler {getattr(function, '__qualname__', function)!s} of {route.contract.ref}"
    module = sys.modules.get(function.__module__)
    if module is None or not (hasattr(module, NOTEBOOK_ATTRIBUTE) or hasattr(module, "__file__")):
        raise StartError(
            f"{name} cannot run in a process pool: it is defined in an interactive session "
            f"(module {function.__module__!r}), which no other process can import. Serve the "
            "notebook with `notebridge-worker run notebook.ipynb`, move the function to a .py "
            "module, or give it pool='thread'"
        )
    try:
        pickle.dumps(function)
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        raise StartError(
            f"{name} cannot run in a process pool: {error}. Define it at the top level of a "
            "module or notebook (not as a lambda, nor inside a function), or give it "
            "pool='thread'"
        ) from None


def _process_pool_factory(routes: list[_Route], size: int) -> Callable[[], ProcessPoolExecutor]:
    # A notebook is no module another process can import: each pool process runs it.
    notebooks = {
        module.__name__: getattr(module, NOTEBOOK_ATTRIBUTE)
        for route in routes
        if hasattr(module := sys.modules[route.function.__module__], NOTEBOOK_ATTRIBUTE)
    }
    return functools.partial(
        ProcessPoolExecutor,
        max_workers=size,
        # Not fork: the parent runs an event loop and threads, which a fork would copy
        # mid-flight; spawn is also what macOS and Windows do.
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_prepare_pool_process,
        initargs=(notebooks,),
    )


def _prepare_pool_process(notebooks: dict[str, str]) -> None:
    """Start a pool process: make the notebooks importable, leave signals to the parent.

    Ctrl-C reaches every process of the terminal's group and SIGTERM may reach them all
    (systemd, a container runtime), but the parent decides when work stops: it drains, then
    kills the pool.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for module_name, path in notebooks.items():
        load_notebook(path, module_name)


async def _warm_up(pool: ProcessPoolExecutor, size: int) -> None:
    """Start every process now, so the first requests do not wait for them (nor fail late)."""
    loop = asyncio.get_running_loop()
    try:
        await asyncio.gather(*(loop.run_in_executor(pool, os.getpid) for _ in range(size)))
    except BrokenProcessPool:
        raise StartError(
            "the process pool did not start: a process failed to load the handlers' module "
            "or notebook (its error is above)"
        ) from None


def _close_process_pool(pool: Executor) -> None:
    """Stop a process pool without waiting: its processes ignore signals, so kill them."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.kill()


def _deadline(headers: Mapping[str, str], received_at: float, timeout_seconds: float) -> float:
    """The absolute deadline in Unix seconds; without the header, the contract's timeout."""
    raw = headers.get(HEADER_DEADLINE)
    if raw is None:
        return received_at + timeout_seconds
    if not (raw.isascii() and raw.isdigit()):
        raise _ErrorReply(
            INVALID_REQUEST, f"{HEADER_DEADLINE} must be Unix time in milliseconds, not {raw!r}"
        )
    return int(raw) / 1000


def _checked_request(contract: Contract, data: bytes, exact_numbers: bool) -> Any:
    """The handler's argument for a request body, or ``invalid_request`` if it breaks the schema.

    The common request takes the fast path: orjson, and a check that proves it valid. Anything
    else is parsed with exact numbers, held to the protocol's numeric domain and to Unicode
    (docs/protocol.md, "Numbers"), and judged, and explained, by the full validator. Where the
    schema says integer, the handler gets an int (notebridge_worker.integers); the fast path
    never proves a float valid there, so only the exact path needs the conversion.
    """
    if not exact_numbers:
        value = fastpath.loads(data)
        if value is not fastpath.NOT_PARSED and fastpath.proves(contract.request_check, value):
            return value
    outside = exactjson.number_problems(data)
    if outside:
        found = [_violation(problem) for problem in outside]
        raise _ErrorReply(
            INVALID_REQUEST,
            f"the request breaks the protocol's numeric domain: {_describe(found, 'request')}",
            _violations_body(found),
        )
    try:
        instance = exactjson.parse_exact(data)
    except UnicodeDecodeError as error:
        raise _ErrorReply(
            INVALID_REQUEST,
            f"the request body is not valid Unicode text: invalid UTF-8 at byte {error.start}",
        ) from None
    except (ValueError, RecursionError) as error:
        raise _ErrorReply(INVALID_REQUEST, f"the request body is not JSON: {error}") from None
    surrogates = exactjson.lone_surrogates(data, instance)
    if surrogates:
        raise _ErrorReply(
            INVALID_REQUEST,
            "the request body is not valid Unicode text: a lone surrogate (\\ud800-\\udfff "
            f"without its pair) at {surrogates[0] or '/'}",
        )
    if not fastpath.proves(contract.request_check, instance):
        found = contract.request_violations(instance)
        if found:
            raise _ErrorReply(
                INVALID_REQUEST,
                f"the request breaks {contract.ref}: {_describe(found, 'request')}",
                _violations_body(found),
            )
    # Validation needed exact numbers; handlers get floats unless they asked otherwise.
    argument = instance if exact_numbers else exactjson.parse(data)
    if contract.request_integers is not None:
        argument = contract.request_integers(argument, instance)
    return argument


def _violation(problem: exactjson.Problem) -> Violation:
    return Violation(instancePath=problem.pointer, keyword=problem.keyword, message=problem.message)


def _checked_reply(contract: Contract, reply: Any, request_id: str) -> bytes:
    """Encode the handler's reply and check the bytes that will be sent against the schema."""
    return _checked(
        contract.response_check,
        contract.response_violations,
        reply,
        "reply",
        contract.ref,
        "",
        request_id,
    )


def _checked_chunk(contract: Contract, chunk: Any, request_id: str, number: int) -> bytes:
    """Encode a chunk and check the bytes that will be sent against the chunk schema."""
    return _checked(
        contract.chunk_check,
        contract.chunk_violations,
        chunk,
        "chunk",
        contract.ref,
        f" {number}",
        request_id,
        log_suffix="; the stream ends with an error",
    )


def _checked(
    check: fastpath.Check,
    violations_of: Callable[[Any], list[Violation]],
    value: Any,
    document: str,
    ref: str,
    number: str,
    request_id: str,
    *,
    log_suffix: str = "",
) -> bytes:
    """Encode ``value`` and check the exact bytes to be sent; raise ``invalid_reply`` if not.

    ``document`` ("reply" or "chunk") and ``number`` (" 3" for a chunk, "" for a reply) name
    what broke the contract in the log line and in the error sent. A value of JSON's own
    types that the fast path proves valid is encoded by orjson; anything else is encoded
    with exact numbers and its bytes parsed back and judged by the full validator.
    """
    value = _as_json_value(value)
    if fastpath.proves(check, value):
        body = fastpath.dumps(value)
        if body is not None:
            return body
    try:
        body = exactjson.dumps(value)
    except (TypeError, ValueError) as error:
        # NaN, an int of more than 4300 digits, a lone surrogate: say where; else what.
        found = [_violation(problem) for problem in exactjson.value_problems(value)] or [
            Violation(instancePath="", keyword="type", message=f"not JSON: {error}")
        ]
    else:
        outside = exactjson.number_problems(body)
        found = (
            [_violation(problem) for problem in outside]
            if outside
            else violations_of(exactjson.parse_exact(body))
        )
    if not found:
        return body
    logger.error(
        "%s %s%s broke the contract (request %s): %s%s",
        ref,
        document,
        number,
        request_id,
        _describe(found, document),
        log_suffix,
    )
    raise _ErrorReply(
        INVALID_REPLY,
        f"{ref} {document}{number} broke the contract: {_describe(found, document)}",
        _violations_body(found),
    )


def _describe(violations: list[Violation], document: str) -> str:
    """``summary: expected string, got null at /summary; ...``: every violation, for a person
    to act on (an error header keeps MAX_ERROR_MESSAGE characters; the body keeps them all).
    """
    return "; ".join(explain(violation, document) for violation in violations)


def _violations_body(violations: list[Violation]) -> bytes:
    return exactjson.dumps({"violations": violations})


async def _respond_error(
    request: Request,
    code: str,
    message: str,
    body: bytes = b"",
    stream: _NatsStream | None = None,
) -> None:
    """Send an error reply; once a stream has sent a chunk, as its last message."""
    # A header is one line, and a long one would crowd out the reply; the body has the rest.
    one_line = " ".join(message.splitlines())
    if len(one_line) > MAX_ERROR_MESSAGE:
        one_line = one_line[: MAX_ERROR_MESSAGE - 1] + "…"
    # Before the first chunk, an ordinary error reply: the gateway answers the client a
    # problem+json with the right status rather than an event stream that fails.
    headers = stream.headers(STREAM_ERROR) if stream is not None and stream.started else None
    try:
        await request.respond_error(code, one_line, data=body, headers=headers)
    except Exception:
        logger.exception("could not send the %s error reply", code)


async def _stop_taking_requests(service: Service, nc: Client) -> None:
    """Stop the micro service without losing requests NATS has already delivered.

    ``Service.stop()`` unsubscribes its endpoints, which throws away requests that reached
    this process but were not read yet; draining each endpoint subscription first hands
    them to the callback. nats-py is pinned (==2.16.0), so its endpoint internals are known.
    Returns once the server has the unsubscriptions: no request reaches this worker after.
    """
    for endpoint in service._endpoints:
        await endpoint._subscription.drain()
    service._endpoints.clear()
    await service.stop()
    await _sync_with_server(nc)


async def _within_leave_timeout(step: Awaitable[None], what: str) -> None:
    """Run a step of leaving NATS, but give up after LEAVE_TIMEOUT_SECONDS.

    When a whole stack stops, the server may go away, or stop answering, while the worker
    leaves it; the worker must still finish and exit, not wait for an answer forever.
    """
    try:
        await asyncio.wait_for(step, LEAVE_TIMEOUT_SECONDS)
    except (nats.errors.Error, asyncio.TimeoutError, OSError) as error:
        logger.warning("%s: NATS did not answer (%s)", what, str(error) or type(error).__name__)


async def _sync_with_server(nc: Client) -> None:
    """Return once the server has everything sent so far on ``nc`` (SUBs, UNSUBs, replies).

    nats-py's flush() writes its PING straight to the socket while SUBs wait in a buffer for
    its flusher task, so the first PONG can come back before the server has seen them. The
    flusher runs while that first round trip is under way; the second one follows the SUBs.
    """
    await nc.flush()
    await nc.flush()


def _log_unexpected_failure(work: "asyncio.Future[Any]") -> None:
    if not work.cancelled() and work.exception() is not None:
        # A handler that failed after its deadline was answered, or a bug in this module.
        logger.error("request work failed after its reply", exc_info=work.exception())


def _server_url(nc: Client) -> str:
    """The URL of the server ``nc`` is connected to, without credentials."""
    url = nc.connected_url
    return f"{url.scheme}://{url.hostname}:{url.port}" if url else "(not connected)"
