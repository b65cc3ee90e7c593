"""The Worker: plain functions registered for contracts, served over NATS.

Each request runs in its own asyncio task. nats-py's micro endpoint awaits its callback before
it reads the endpoint's next message, so a callback that did the work itself would serve one
request at a time; the callback here only admits the request (or answers ``busy``) and
returns.
"""

import asyncio
import contextlib
import functools
import inspect
import logging
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import nats
from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import EndpointStats, Service

from notebridge_worker import exactjson
from notebridge_worker.context import RequestContext
from notebridge_worker.contracts import Contract, ContractError, Violation, load_contracts
from notebridge_worker.errors import ServiceError
from notebridge_worker.protocol import (
    BUSY,
    DEADLINE_EXCEEDED,
    DRIFT,
    HEADER_CONTRACT_DIGEST,
    HEADER_DEADLINE,
    HEADER_REQUEST_ID,
    INTERNAL,
    INVALID_REPLY,
    INVALID_REQUEST,
    QUEUE_GROUP,
    contract_ref,
    endpoint_name,
    subject,
)
from notebridge_worker.version import __version__

logger = logging.getLogger("notebridge_worker")

ENV_CONTRACTS_DIR = "NOTEBRIDGE_CONTRACTS_DIR"
ENV_NATS_URL = "NOTEBRIDGE_NATS_URL"
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
DEFAULT_GRACE_SECONDS = 10.0
MAX_ERROR_MESSAGE = 1000
"""Characters of an error message that fit in the reply's Nats-Service-Error header."""

HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])


@dataclass(frozen=True)
class _Route:
    """A registered handler and the contract it serves."""

    contract: Contract
    function: Callable[..., Any]
    takes_context: bool
    is_async: bool


class _ErrorReply(Exception):
    """Ends a request with an error reply: the micro error headers and an optional body."""

    def __init__(self, code: str, message: str, body: bytes = b"") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.body = body


class Worker:
    """Serves handlers for notebridge contracts over NATS.

    ``contracts_dir`` defaults to ``$NOTEBRIDGE_CONTRACTS_DIR``, then ``./contracts``; the
    contracts are loaded at once, so a broken schema fails here rather than on a request.
    ``max_inflight`` bounds the requests this process works on at once; past it, requests
    are answered ``busy`` at once rather than queued. With ``exact_numbers``, numbers with a
    fraction reach handlers as :class:`decimal.Decimal`, digit for digit; otherwise as float.
    """

    def __init__(
        self,
        name: str = "notebridge",
        contracts_dir: str | os.PathLike[str] | None = None,
        max_inflight: int = 64,
        *,
        exact_numbers: bool = False,
    ) -> None:
        if max_inflight < 1:
            raise ValueError(f"max_inflight must be at least 1, not {max_inflight}")
        self.name = name
        self.max_inflight = max_inflight
        self.exact_numbers = exact_numbers
        self.contracts_dir = Path(contracts_dir or os.environ.get(ENV_CONTRACTS_DIR) or "contracts")
        self.contracts: dict[str, Contract] = load_contracts(self.contracts_dir)
        self._routes: dict[str, _Route] = {}
        self._inflight: dict[str, set[asyncio.Future[Any]]] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._stop_requested: asyncio.Event | None = None

    def handler(self, contract: str, *, version: int = 1) -> Callable[[HandlerT], HandlerT]:
        """Register the decorated function as the handler of a contract version.

        The function is returned unchanged, so it can still be called directly. It takes the
        request (a dict) and optionally a :class:`RequestContext`, and returns the response.
        ``async def`` handlers run on the event loop; plain ``def`` handlers in a thread pool.
        Registering a contract again replaces its handler (re-running a notebook cell).
        """
        ref = contract_ref(contract, version)
        if ref not in self.contracts:
            known = ", ".join(sorted(self.contracts)) or "none"
            raise ContractError(f"no contract {ref} in {self.contracts_dir} (it has: {known})")

        def register(function: HandlerT) -> HandlerT:
            self._routes[ref] = _route(self.contracts[ref], function)
            return function

        return register

    def use_contracts_dir(self, contracts_dir: str | os.PathLike[str]) -> None:
        """Serve the contracts in ``contracts_dir`` instead of those loaded so far.

        Every registered handler must find its contract there, or ContractError is raised
        and nothing changes.
        """
        contracts = load_contracts(contracts_dir)
        missing = sorted(ref for ref in self._routes if ref not in contracts)
        if missing:
            raise ContractError(f"{contracts_dir} has no contract {', '.join(missing)}")
        self.contracts_dir, self.contracts = Path(contracts_dir), contracts
        self._routes = {
            ref: replace(route, contract=contracts[ref]) for ref, route in self._routes.items()
        }

    @contextlib.asynccontextmanager
    async def serving(
        self, nc: Client, *, grace_seconds: float = DEFAULT_GRACE_SECONDS
    ) -> AsyncIterator[None]:
        """Serve every registered handler on ``nc`` while the ``async with`` block runs.

        On entry the worker is a NATS micro service with one endpoint per handler, its
        subscriptions confirmed by the server. On exit it takes no new requests, lets those
        in flight finish for up to ``grace_seconds``, and leaves ``nc`` open.
        """
        if not self._routes:
            raise RuntimeError(
                f"worker {self.name} has no handlers; register one with @worker.handler(...)"
            )
        if self._executor is not None:
            raise RuntimeError(f"worker {self.name} is already serving")
        self._executor = ThreadPoolExecutor(
            max_workers=self.max_inflight, thread_name_prefix=f"notebridge-{self.name}"
        )
        endpoints = {
            ref: endpoint_name(route.contract.name, route.contract.version)
            for ref, route in self._routes.items()
        }
        self._inflight = {endpoint: set() for endpoint in endpoints.values()}
        try:
            service = await add_service(
                nc,
                name=self.name,
                version=__version__,
                description=f"notebridge worker {self.name}",
                metadata={
                    "sdk": "notebridge-worker-python",
                    "max_inflight": str(self.max_inflight),
                },
                stats_handler=self._endpoint_stats,
            )
            try:
                for ref, endpoint in endpoints.items():
                    contract = self._routes[ref].contract
                    await service.add_endpoint(
                        name=endpoint,
                        subject=subject(contract.name, contract.version),
                        queue_group=QUEUE_GROUP,
                        # The handler is looked up per request, so that registering it
                        # again (a re-run notebook cell) takes effect while serving.
                        handler=functools.partial(self._on_request, endpoint, ref),
                        metadata={
                            "contract": contract.name,
                            "version": str(contract.version),
                            "digest": contract.digest,
                        },
                    )
                await _confirm_subscriptions(nc)
                served = ", ".join(endpoints)
                logger.info("worker %s serving %s on %s", self.name, served, _server_url(nc))
                yield
            finally:
                if not nc.is_closed:
                    await _stop_taking_requests(service)
                await self._finish_inflight(grace_seconds)
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def serve(self, nc: Client, *, grace_seconds: float = DEFAULT_GRACE_SECONDS) -> None:
        """Serve on ``nc`` until :meth:`stop` is called, then stop gracefully (see serving)."""
        self._stop_requested = asyncio.Event()
        async with self.serving(nc, grace_seconds=grace_seconds):
            await self._stop_requested.wait()

    def stop(self) -> None:
        """Ask :meth:`serve` to stop gracefully; call it from the event loop's thread."""
        if self._stop_requested is not None:
            self._stop_requested.set()

    def run(
        self, nats_url: str | None = None, *, grace_seconds: float = DEFAULT_GRACE_SECONDS
    ) -> None:
        """Connect to NATS and serve until SIGTERM or SIGINT, then stop gracefully.

        ``nats_url`` defaults to ``$NOTEBRIDGE_NATS_URL``, then nats://127.0.0.1:4222.
        """
        url = nats_url or os.environ.get(ENV_NATS_URL) or DEFAULT_NATS_URL
        asyncio.run(self._connect_and_serve(url, grace_seconds))

    async def _connect_and_serve(self, nats_url: str, grace_seconds: float) -> None:
        nc = await nats.connect(
            nats_url,
            name=f"notebridge-worker {self.name}",
            # A worker may start before NATS and outlives its restarts: it keeps trying.
            max_reconnect_attempts=-1,
            error_cb=_log_connection_error,
            disconnected_cb=_log_disconnected,
            reconnected_cb=_log_reconnected,
        )
        loop = asyncio.get_running_loop()
        stop_signals = (signal.SIGTERM, signal.SIGINT)
        for signum in stop_signals:
            loop.add_signal_handler(signum, self.stop)
        try:
            await self.serve(nc, grace_seconds=grace_seconds)
        finally:
            for signum in stop_signals:
                loop.remove_signal_handler(signum)
            await nc.drain()

    def _inflight_count(self) -> int:
        return sum(len(futures) for futures in self._inflight.values())

    def _endpoint_stats(self, stats: EndpointStats) -> dict[str, int]:
        """Extra data for ``$SRV.STATS``: micro's own counters miss work done in tasks."""
        return {"inflight": len(self._inflight.get(stats.name, ()))}

    def _track(self, endpoint: str, work: "asyncio.Future[Any]") -> None:
        """Count ``work`` in flight until it is done; also keeps a reference to the task."""
        futures = self._inflight[endpoint]
        futures.add(work)
        work.add_done_callback(futures.discard)
        work.add_done_callback(_log_unexpected_failure)

    async def _on_request(self, endpoint: str, ref: str, request: Request) -> None:
        """Admit a request into its own task, or answer ``busy``; never waits for the work."""
        if self._inflight_count() >= self.max_inflight:
            await _respond_error(
                request,
                BUSY,
                f"worker {self.name} is at its limit of {self.max_inflight} requests in flight",
            )
            return
        self._track(endpoint, asyncio.create_task(self._answer(endpoint, ref, request)))

    async def _answer(self, endpoint: str, ref: str, request: Request) -> None:
        headers = request.headers or {}
        request_id = headers.get(HEADER_REQUEST_ID) or uuid.uuid4().hex
        try:
            body = await self._reply(endpoint, self._routes[ref], request, headers, request_id)
        except _ErrorReply as error:
            await _respond_error(request, error.code, error.message, error.body)
            return
        except Exception:
            # A bug here, or input deep enough to exhaust the stack: the caller still gets
            # an answer rather than waiting for its deadline.
            logger.exception("worker %s failed on request %s to %s", self.name, request_id, ref)
            await _respond_error(
                request, INTERNAL, f"internal error in worker {self.name} (request {request_id})"
            )
            return
        try:
            await request.respond(body)
        except Exception:
            logger.exception("could not send the reply to request %s", request_id)

    async def _reply(
        self,
        endpoint: str,
        route: _Route,
        request: Request,
        headers: Mapping[str, str],
        request_id: str,
    ) -> bytes:
        """Run the steps docs/protocol.md prescribes and return the reply body."""
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
        try:
            instance = exactjson.parse_exact(request.data)
        except (ValueError, RecursionError) as error:
            raise _ErrorReply(INVALID_REQUEST, f"the request body is not JSON: {error}") from None
        found = contract.request_violations(instance)
        if found:
            raise _ErrorReply(
                INVALID_REQUEST,
                f"the request breaks {contract.ref}: {_describe(found, limit=1)}",
                _violations_body(found),
            )
        context = RequestContext(
            request_id=request_id,
            deadline=deadline,
            contract=contract.name,
            version=contract.version,
            headers=headers,
        )
        # Validation needed exact numbers; handlers get floats unless they asked otherwise.
        argument = instance if self.exact_numbers else exactjson.parse(request.data)
        reply = await self._call(endpoint, route, argument, context)
        return _checked_reply(contract, reply, request_id)

    async def _call(
        self, endpoint: str, route: _Route, argument: Any, context: RequestContext
    ) -> Any:
        """Run the handler until the deadline; map what it raises to an error reply."""
        arguments = (argument, context) if route.takes_context else (argument,)
        if route.is_async:
            work: asyncio.Future[Any] = asyncio.ensure_future(route.function(*arguments))
        else:
            work = asyncio.get_running_loop().run_in_executor(
                self._executor, functools.partial(route.function, *arguments)
            )
        done, _ = await asyncio.wait({work}, timeout=context.time_left())
        ref = route.contract.ref
        if not done:
            # A thread cannot be stopped, and a cancelled task may take a while to unwind:
            # either keeps its in-flight slot until it ends, so max_inflight stays a bound
            # (cancelling a thread's future would end its count while the thread runs on).
            if route.is_async:
                work.cancel()
            self._track(endpoint, work)
            raise _ErrorReply(
                DEADLINE_EXCEEDED,
                f"{ref} did not finish before the deadline of request {context.request_id}",
            )
        try:
            return work.result()
        except ServiceError as error:
            raise _ErrorReply(error.code, error.message) from None
        except Exception:
            logger.exception("handler %s failed on request %s", ref, context.request_id)
            raise _ErrorReply(
                INTERNAL, f"internal error in handler {ref} (request {context.request_id})"
            ) from None

    async def _finish_inflight(self, grace_seconds: float) -> None:
        pending = set().union(*self._inflight.values())
        if not pending:
            return
        _, unfinished = await asyncio.wait(pending, timeout=grace_seconds)
        if unfinished:
            logger.warning(
                "worker %s stops with %d requests unfinished after %s s of grace",
                self.name,
                len(unfinished),
                grace_seconds,
            )
            for work in unfinished:
                work.cancel()


def _route(contract: Contract, function: Callable[..., Any]) -> _Route:
    """Check a handler's shape once, at registration, rather than on every request."""
    name = getattr(function, "__qualname__", repr(function))
    if inspect.isasyncgenfunction(function) or inspect.isgeneratorfunction(function):
        raise TypeError(f"handler {name} is a generator; {contract.ref} is a sync contract")
    parameters = inspect.signature(function).parameters.values()
    positional = [
        p
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    required = [p for p in positional if p.default is inspect.Parameter.empty]
    takes_varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    if (not positional and not takes_varargs) or len(required) > 2:
        raise TypeError(f"handler {name} must take the request and, optionally, a RequestContext")
    return _Route(
        contract=contract,
        function=function,
        takes_context=len(positional) >= 2 or takes_varargs,
        is_async=inspect.iscoroutinefunction(function),
    )


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


def _checked_reply(contract: Contract, reply: Any, request_id: str) -> bytes:
    """Encode the handler's reply and check the bytes that will be sent against the schema."""
    try:
        body = exactjson.dumps(reply)
    except (TypeError, ValueError) as error:
        found = [Violation(instancePath="", keyword="type", message=f"not JSON: {error}")]
    else:
        found = contract.response_violations(exactjson.parse_exact(body))
    if not found:
        return body
    logger.error(
        "%s reply broke the contract: %s (request %s)",
        contract.ref,
        _describe(found),
        request_id,
    )
    raise _ErrorReply(
        INVALID_REPLY,
        f"{contract.ref} reply broke the contract: {_describe(found, limit=1)}",
        _violations_body(found),
    )


def _describe(violations: list[Violation], limit: int | None = None) -> str:
    """``/summary: None is not of type 'string' (keyword type); ...`` for a person to act on."""
    shown = violations if limit is None else violations[:limit]
    text = "; ".join(
        f"{v['instancePath'] or '(root)'}: {v['message']} (keyword {v['keyword']})" for v in shown
    )
    hidden = len(violations) - len(shown)
    return f"{text} (and {hidden} more)" if hidden else text


def _violations_body(violations: list[Violation]) -> bytes:
    return exactjson.dumps({"violations": violations})


async def _respond_error(request: Request, code: str, message: str, body: bytes = b"") -> None:
    # A header is one line, and a long one would crowd out the reply; the body has the rest.
    one_line = " ".join(message.splitlines())
    if len(one_line) > MAX_ERROR_MESSAGE:
        one_line = one_line[: MAX_ERROR_MESSAGE - 1] + "…"
    try:
        await request.respond_error(code, one_line, data=body)
    except Exception:
        logger.exception("could not send the %s error reply", code)


async def _stop_taking_requests(service: Service) -> None:
    """Stop the micro service without losing requests NATS has already delivered.

    ``Service.stop()`` unsubscribes its endpoints, which throws away requests that reached
    this process but were not read yet; draining each endpoint subscription first hands
    them to the callback. nats-py is pinned (==2.16.0), so its endpoint internals are known.
    """
    for endpoint in service._endpoints:
        await endpoint._subscription.drain()
    service._endpoints.clear()
    await service.stop()


async def _confirm_subscriptions(nc: Client) -> None:
    """Return once the server has every subscription made so far on ``nc``.

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


async def _log_connection_error(error: Exception) -> None:
    logger.warning("NATS connection error: %s", error)


async def _log_disconnected() -> None:
    logger.warning("disconnected from NATS; reconnecting")


async def _log_reconnected() -> None:
    logger.info("reconnected to NATS")
