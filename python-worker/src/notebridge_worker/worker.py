"""The Worker: plain functions registered for contracts, served over NATS.

What happens to one request is in _pipeline.py, the same for every way a request arrives.
This module registers handlers and serves them: one NATS micro endpoint per sync or stream
contract (docs/protocol.md), a job puller for job contracts (jobs/), and a graceful stop.
A served request passes through:

- ``_on_request``, which admits it into its own task, or answers ``busy``. nats-py's micro
  endpoint awaits its callback before it reads the endpoint's next message, so a callback
  that did the work itself would serve one request at a time.
- ``_answer``, which sends what ``Pipeline.process`` returns, or the error it raises, and
  counts it for ``$SRV.STATS``. A stream's messages go out through a NatsStream with its own
  cancel subject (``_open_stream``).
"""

import asyncio
import contextlib
import functools
import inspect
import itertools
import logging
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import EndpointStats

from notebridge_worker import exactjson
from notebridge_worker._natsio import (
    respond_error,
    server_url,
    stop_taking_requests,
    sync_with_server,
    within_leave_timeout,
)
from notebridge_worker._pipeline import Pipeline
from notebridge_worker._routes import Route, build_route, pool_kind
from notebridge_worker._runtime import (
    Runtime,
    check_runs_in_a_process,
    process_pool_factory,
    warm_up,
)
from notebridge_worker._streams import NatsStream
from notebridge_worker.config import BATCHES_IN_FLIGHT, DEFAULT_MAX_INFLIGHT, Batch, WorkerConfig
from notebridge_worker.connection import NatsOptions, connect
from notebridge_worker.contracts import JOB, Contract, ContractError, load_contracts
from notebridge_worker.errors import ErrorReply, StartError
from notebridge_worker.jobs import JobPuller
from notebridge_worker.protocol import (
    BUSY,
    HEADER_REQUEST_ID,
    INTERNAL,
    JOB_ENDPOINT_SUFFIX,
    JOB_METADATA_PREFIX,
    QUEUE_GROUP,
    contract_ref,
    endpoint_name,
    job_consumer,
    job_status_subject,
    subject,
)
from notebridge_worker.remote import contracts_location, local_contracts_dir
from notebridge_worker.repair import ReplyCheck, build_check
from notebridge_worker.version import __version__

__all__ = ["DEFAULT_GRACE_SECONDS", "StartError", "Worker"]

logger = logging.getLogger("notebridge_worker")

DEFAULT_GRACE_SECONDS = 10.0

HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])
CheckT = TypeVar("CheckT", bound=Callable[..., Any])


def composed_refusal(ref: str) -> str:
    """Why no handler is registered for the composed contract ``ref``."""
    return f"{ref} is composed at the gateway from other contracts; no worker serves it"


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
        self._routes: dict[str, Route] = {}
        self._checks: dict[str, list[ReplyCheck]] = {}
        self._endpoints: dict[str, str] = {}
        self._job_endpoints: dict[str, str] = {}
        """Contract ref of each job contract's status endpoint, while serving."""
        """Contract ref of each micro endpoint name, while serving."""
        self._pipeline: Pipeline | None = None
        self._stop_requested: asyncio.Event | None = None
        self._interrupted: asyncio.Event | None = None
        self._cancel_prefix = ""
        """Streams' cancel subjects are this, a dot and a token of _streams, while serving."""
        self._streams: dict[str, NatsStream] = {}
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
        ref = self._servable(contract_ref(contract, version))
        chosen_pool = None if pool is None else pool_kind(pool)
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
            self._routes[ref] = build_route(self.contracts[ref], function, chosen_pool, batch)
            return function

        return register

    def add_handler(
        self,
        contract: str,
        function: HandlerT,
        *,
        version: int = 1,
        pool: str | None = None,
        batch: Batch | None = None,
    ) -> HandlerT:
        """Register ``function`` as the handler of a contract version; return it unchanged.

        The imperative twin of :meth:`handler`, for a function defined elsewhere (another
        module, a notebook cell) or chosen at run time: ``worker.add_handler("summarize",
        summarize, version=1)`` is ``@worker.handler("summarize", version=1)`` on it.
        """
        return self.handler(contract, version=version, pool=pool, batch=batch)(function)

    def check(
        self, contract: str, *, version: int = 1, name: str | None = None
    ) -> Callable[[CheckT], CheckT]:
        """Register the decorated function as a code-level check of a contract's replies.

        The function takes the reply (JSON values; for a stream contract, the list of its
        chunks) and optionally the request, and returns
        the violations it finds: each a message, or a pair ``(JSON pointer, message)``;
        nothing when the reply passes. It runs after the response schema accepted the reply,
        on the event loop (keep it quick), for every reply of the contract. A reply that
        fails a check is an ``invalid_reply`` whose violations have the check's ``name``
        (the function's name by default) as their keyword; with ``repair`` in the manifest,
        the handler gets another attempt with them (notebridge_worker.repair). The function
        is returned unchanged; registering the same name again replaces the check.
        """
        ref = self._servable(contract_ref(contract, version))

        def register(function: CheckT) -> CheckT:
            check = build_check(function, name)
            checks = [c for c in self._checks.get(ref, []) if c.name != check.name]
            self._checks[ref] = [*checks, check]
            return function

        return register

    def configure(self, **changes: object) -> None:
        """Replace fields of :attr:`config` (WorkerConfig's names; None leaves one as it is).

        The command line's ``--name``, ``--max-inflight``, ``--pool`` and ``--pool-size`` come
        here; the new config is validated before it replaces the old (ValueError).
        """
        self.config = self.config.replace(**changes)

    def _servable(self, ref: str) -> str:
        """``ref`` if a handler or check may be registered for it; else ContractError."""
        contract = self.contracts.get(ref)
        if contract is None:
            known = ", ".join(sorted(self.contracts)) or "none"
            raise ContractError(f"no contract {ref} in {self.contracts_dir} (it has: {known})")
        if contract.composed:
            raise ContractError(composed_refusal(ref))
        return ref

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

    @property
    def routes(self) -> Mapping[str, Route]:
        """Each registered handler and its contract, by ``<name>/v<N>``: a read-only view
        that follows registrations (a re-run notebook cell replaces a handler)."""
        return MappingProxyType(self._routes)

    @property
    def is_serving(self) -> bool:
        """Whether the worker is serving: between entering and leaving :meth:`serving`."""
        return self._pipeline is not None

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
        for ref in sorted(self._routes):
            if contracts[ref].composed:
                raise ContractError(f"{contracts_dir}: {composed_refusal(ref)}")
        self.contracts_dir, self.contracts = Path(contracts_dir).absolute(), contracts
        # Checked again: the same contract version may have another mode there. Updated in
        # place, so that the view `routes` gave out follows.
        self._routes.update(
            {
                ref: build_route(contracts[ref], route.function, route.pool, route.batch)
                for ref, route in self._routes.items()
            }
        )

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
        if self._pipeline is not None:
            raise RuntimeError(f"worker {self.name} is already serving")
        self._interrupted = asyncio.Event()
        async with self.pipeline() as pipeline:
            self._pipeline, runtime = pipeline, pipeline.runtime
            # A job contract's jobs are pulled from JetStream (jobs/); its endpoint, on a
            # subject of its own, only says how its jobs fare, so that `nats micro info` and
            # `nats micro stats` show it beside the sync and stream endpoints.
            self._endpoints, self._job_endpoints = {}, {}
            for ref, route in self._routes.items():
                named = endpoint_name(route.contract.name, route.contract.version)
                if route.contract.mode == JOB:
                    self._job_endpoints[named + JOB_ENDPOINT_SUFFIX] = ref
                else:
                    self._endpoints[named] = ref
            cancels = None
            jobs = JobPuller(pipeline, self.routes, self.name, self.max_inflight, nc)
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
                        # The gateway's catalog counts job workers by these keys: a job
                        # contract's endpoint reports status, it takes no work.
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
                            handler=functools.partial(self._on_request, pipeline, ref),
                            metadata={
                                "contract": contract.name,
                                "version": str(contract.version),
                                "digest": contract.digest,
                            },
                        )
                    for endpoint, ref in self._job_endpoints.items():
                        contract = self._routes[ref].contract
                        await service.add_endpoint(
                            name=endpoint,
                            subject=job_status_subject(contract.name, contract.version),
                            handler=functools.partial(self._on_job_status, pipeline, ref),
                            metadata={
                                "jobs_of": ref,
                                "digest": contract.digest,
                                "consumer": job_consumer(contract.name, contract.version),
                            },
                        )
                    await sync_with_server(nc)
                    served = [*self._endpoints.values()] + [
                        f"jobs of {ref}"
                        for ref, route in self._routes.items()
                        if route.contract.mode == JOB
                    ]
                    logger.info(
                        "worker %s serving %s on %s", self.name, ", ".join(served), server_url(nc)
                    )
                    await jobs.start()
                    yield
                finally:
                    await jobs.stop_pulling()
                    if nc.is_connected:
                        await within_leave_timeout(
                            stop_taking_requests(service, nc), "taking the endpoints off NATS"
                        )
                    logger.info(
                        "worker %s takes no new requests; %d in flight may finish within %g s",
                        self.name,
                        sum(len(tasks) for tasks in runtime.answering.values()),
                        grace_seconds,
                    )
                    await runtime.finish(grace_seconds, self._interrupted)
            finally:
                self._pipeline = None
                if cancels is not None and nc.is_connected:
                    await within_leave_timeout(
                        cancels.unsubscribe(), "unsubscribing from stream cancellations"
                    )

    async def serve(self, nc: Client, *, grace_seconds: float = DEFAULT_GRACE_SECONDS) -> None:
        """Serve on ``nc`` until :meth:`stop` is called, then stop gracefully (see serving)."""
        self._stop_requested = asyncio.Event()
        await self._serve_until_stopped(nc, grace_seconds)

    async def _serve_until_stopped(
        self, nc: Client, grace_seconds: float, ready_file: Path | None = None
    ) -> None:
        assert self._stop_requested is not None
        async with self.serving(nc, grace_seconds=grace_seconds):
            if ready_file is not None:
                _mark_ready(ready_file)
            try:
                await self._stop_requested.wait()
            finally:
                if ready_file is not None:
                    ready_file.unlink(missing_ok=True)  # noqa: ASYNC240 - one local unlink

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
        ready_file: str | os.PathLike[str] | None = None,
    ) -> None:
        """Connect to NATS and serve until SIGTERM or SIGINT, then stop gracefully.

        ``options`` (URL, credentials, TLS) default to ``NOTEBRIDGE_NATS_*`` variables
        (:meth:`NatsOptions.from_env`); ``nats_url``, if given, replaces their URL. Raises
        ConnectError if the server refuses the credentials. ``ready_file``, if given, is
        written once the worker serves and removed when it stops taking requests.
        """
        options = options or NatsOptions.from_env()
        if nats_url:
            options = replace(options, url=nats_url)
        ready = None if ready_file is None else Path(ready_file)
        _run_event_loop(self._connect_and_serve(options, grace_seconds, ready))

    async def _connect_and_serve(
        self, options: NatsOptions, grace_seconds: float, ready_file: Path | None
    ) -> None:
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
                await self._serve_until_stopped(nc, grace_seconds, ready_file)
            finally:
                # The endpoints are drained already: what is left is to deliver the last
                # replies. (nc.drain() would also do it, but cannot be cut short.)
                if nc.is_connected:
                    await within_leave_timeout(sync_with_server(nc), "sending the last replies")
                await within_leave_timeout(nc.close(), "closing the connection")
        finally:
            for signum in stop_signals:
                loop.remove_signal_handler(signum)

    @contextlib.asynccontextmanager
    async def pipeline(self) -> AsyncIterator[Pipeline]:
        """The request pipeline (_pipeline.py) with the pools the handlers need, for as long
        as the block runs: serving runs one per session, the offline TestClient one per call.

        Raises StartError when a handler cannot run where it asked to (a process pool).
        """
        in_processes = [
            route
            for route in self._routes.values()
            if not route.is_async and not route.streams and (route.pool or self.pool) == "process"
        ]
        for route in in_processes:
            check_runs_in_a_process(route)
        threads = self.pool_size if self.pool == "thread" and self.pool_size else self.max_inflight
        processes = self.pool_size if self.pool == "process" and self.pool_size else os.cpu_count()
        runtime = Runtime(
            thread_pool=ThreadPoolExecutor(threads, thread_name_prefix=f"notebridge-{self.name}"),
            new_process_pool=(
                process_pool_factory(in_processes, processes or 1) if in_processes else None
            ),
        )
        try:
            if runtime.new_process_pool is not None:
                runtime.process_pool = runtime.new_process_pool()
                await warm_up(runtime.process_pool, processes or 1)
            yield Pipeline(runtime, self.config, self._checks)
        finally:
            runtime.close()

    def _endpoint_stats(self, stats: EndpointStats) -> dict[str, Any]:
        """Fill an endpoint's ``$SRV.STATS`` entry with the SDK's own counters.

        micro counts the requests right (its callback sees each one), but the time it counts
        is the callback's, here only the admission of a request, and it never sees an error,
        since the SDK answers every error itself: those counters are replaced by the ones the
        SDK keeps as it answers. ``data`` has the requests in flight and, for a contract with
        repair, the handler's runs and the requests by repair outcome. A job contract's
        endpoint counts the job attempts this process ran, not the status queries it answered.
        """
        pipeline = self._pipeline
        ref = self._endpoints.get(stats.name) or self._job_endpoints.get(stats.name)
        if pipeline is None or ref is None:
            return {}
        runtime = pipeline.runtime
        counters = runtime.counters[ref]
        if stats.name in self._job_endpoints:
            stats.num_requests = counters.answered
        stats.num_errors = counters.errors
        stats.last_error = counters.last_error
        stats.processing_time = counters.processing_ns
        stats.average_processing_time = counters.processing_ns // max(counters.answered, 1)
        data: dict[str, Any] = {"inflight": len(runtime.answering[ref])}
        if self.contracts[ref].repair is not None:
            data["handler_runs"] = counters.runs
            data["repair_outcomes"] = dict(counters.repairs)
        return data

    async def _on_job_status(self, pipeline: Pipeline, ref: str, request: Request) -> None:
        """Say how this process fares with a job contract's jobs (its status endpoint)."""
        counters = pipeline.runtime.counters[ref]
        status = {
            "jobs_of": ref,
            "running": len(pipeline.runtime.answering[ref]),
            "attempts": counters.answered,
            "failed_attempts": counters.errors,
            "max_inflight": self.max_inflight,
        }
        await request.respond(exactjson.dumps(status))

    async def _on_request(self, pipeline: Pipeline, ref: str, request: Request) -> None:
        """Admit a request into its own task, or answer ``busy``; never waits for the work."""
        runtime = pipeline.runtime
        if runtime.inflight() >= self.max_inflight:
            started = time.perf_counter_ns()
            message = (
                f"worker {self.name} is at its limit of {self.max_inflight} requests in flight"
            )
            await respond_error(request, BUSY, message)
            runtime.count(ref, started, f"{BUSY}: {message}")
            return
        runtime.answer(ref, asyncio.create_task(self._answer(pipeline, ref, request)))

    async def _answer(self, pipeline: Pipeline, ref: str, request: Request) -> None:
        started = time.perf_counter_ns()
        runtime = pipeline.runtime
        headers = request.headers or {}
        request_id = headers.get(HEADER_REQUEST_ID) or uuid.uuid4().hex
        route = self._routes[ref]
        stream = self._open_stream(request) if route.streams else None
        try:
            reply = await pipeline.process(route, request.data, headers, request_id, stream)
        except ErrorReply as error:
            await respond_error(
                request, error.code, error.message, error.body, stream, error.headers
            )
            runtime.count(ref, started, f"{error.code}: {error.message}")
            return
        except asyncio.CancelledError:
            # Only stopping cancels a request, once its grace period is over: the caller
            # learns now, and may try another worker, rather than at its deadline.
            message = f"worker {self.name} stopped before request {request_id} finished"
            await respond_error(request, BUSY, message, stream=stream)
            runtime.count(ref, started, f"{BUSY}: {message}")
            raise
        except Exception:
            # A bug here, or input deep enough to exhaust the stack: the caller still gets
            # an answer rather than waiting for its deadline.
            logger.exception("worker %s failed on request %s to %s", self.name, request_id, ref)
            message = f"internal error in worker {self.name} (request {request_id})"
            await respond_error(request, INTERNAL, message, stream=stream)
            runtime.count(ref, started, f"{INTERNAL}: {message}")
            return
        finally:
            if stream is not None:
                self._streams.pop(stream.cancel_subject.rsplit(".", 1)[1], None)
        if reply is not None:  # a stream has sent its messages already
            try:
                await request.respond(reply.body, headers=reply.headers or None)
            except Exception:
                logger.exception("could not send the reply to request %s", request_id)
        runtime.count(ref, started, None)

    def _open_stream(self, request: Request) -> NatsStream:
        """A stream for ``request``, with its own cancel subject.

        Cancel subjects share one wildcard subscription per serving session,
        ``<inbox>.<token>``: one SUB for the whole session rather than a SUB and an UNSUB
        per stream (each a message to the server, and interest every server of a cluster
        must learn), and nothing to clean up when a stream ends. The subject is under the
        connection's inbox prefix, which a worker may already subscribe to and the gateway
        publish to, so NATS permissions need no new rule.
        """
        token = str(next(self._stream_tokens))
        stream = NatsStream(request, f"{self._cancel_prefix}.{token}")
        self._streams[token] = stream
        return stream

    async def _on_cancel(self, msg: Msg) -> None:
        """The gateway asks a stream to stop: its client left, or its deadline passed."""
        stream = self._streams.get(msg.subject.rsplit(".", 1)[1])
        if stream is not None:
            stream.cancelled.set()


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


def _mark_ready(ready_file: Path) -> None:
    """Write the ready file whole (renamed into place), holding the worker's PID."""
    partial = ready_file.with_name(ready_file.name + ".partial")
    partial.write_text(f"{os.getpid()}\n")
    partial.replace(ready_file)
