"""Adaptive micro-batching: concurrent requests of one contract, answered by one handler call.

A handler registered with ``batch=Batch(...)`` takes a list of requests and returns a list of
replies. Each request is checked on its own first (_pipeline.py: digest, deadline, request
schema), then handed to the contract's ``_Batcher``, and its caller waits for its item of the
result until its own deadline; its reply is checked on its own after.

A batch closes when it holds ``max_size`` requests, or ``max_wait`` seconds after its first
request arrived. One batch per handler runs at a time, and the next one fills while it runs:
under light load a request waits at most ``max_wait``; under heavy load batches grow to what
arrives while one runs (up to ``max_size``), which is where batching pays.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from notebridge_worker.config import Batch
from notebridge_worker.context import RequestContext
from notebridge_worker.errors import ServiceError

if TYPE_CHECKING:
    from notebridge_worker._routes import Route

logger = logging.getLogger("notebridge_worker")


class BatchFailed(Exception):
    """Every request of a batch fails with ``internal``; the cause is logged once, already."""


@dataclass
class _Item:
    """One request waiting in, or running as part of, a batch."""

    argument: Any
    context: RequestContext
    reply: asyncio.Future[Any]
    """Its item of the handler's result; cancelled when its caller stops waiting for it."""
    arrived: float
    """loop.time() when it joined."""


class _Batcher:
    """Groups the requests of one batch handler, for one serving session (a ``Runtime``)."""

    def __init__(self, route: Route, pool: Callable[[], Executor] | None) -> None:
        assert route.batch is not None
        self.route = route
        self.batch: Batch = route.batch
        self.pool = pool
        """The executor a plain ``def`` handler runs in, looked up per batch (a broken
        process pool is replaced); None for an ``async def`` handler."""
        self.waiting: collections.deque[_Item] = collections.deque()
        self.full = asyncio.Event()
        self.running: asyncio.Task[None] | None = None
        """Closes and runs batches while requests wait; None when idle."""

    def submit(self, argument: Any, context: RequestContext) -> asyncio.Future[Any]:
        """Add a request to the next batch; its future resolves to its reply, or raises.

        It raises ServiceError (the handler's, for this item or for the whole batch),
        BatchFailed, or BrokenProcessPool. Cancelling it takes the request out of its batch
        (or leaves the batch run without it); the other requests are not affected.
        """
        loop = asyncio.get_running_loop()
        item = _Item(argument, context, loop.create_future(), loop.time())
        self.waiting.append(item)
        if len(self.waiting) >= self.batch.max_size:
            self.full.set()
        if self.running is None:
            self.running = loop.create_task(self._run_batches())
            self.running.add_done_callback(self._stopped)
        return item.reply

    async def _run_batches(self) -> None:
        loop = asyncio.get_running_loop()
        max_size = self.batch.max_size
        while self.waiting:
            closes_at = self.waiting[0].arrived + self.batch.max_wait
            while len(self.waiting) < max_size and loop.time() < closes_at:
                self.full.clear()
                try:
                    await asyncio.wait_for(self.full.wait(), closes_at - loop.time())
                except asyncio.TimeoutError:
                    break
            items = [self.waiting.popleft() for _ in range(min(max_size, len(self.waiting)))]
            self.full.clear()
            await self._run([item for item in items if self._still_wanted(item)])

    def _still_wanted(self, item: _Item) -> bool:
        """False for a request its caller gave up on, or whose deadline passed as it waited."""
        if item.reply.done():
            return False
        if item.context.time_left() <= 0:
            # Nobody waits for its reply any more: the caller answers deadline_exceeded.
            logger.warning(
                "skipped request %s to %s: its deadline passed while it waited for a batch",
                item.context.request_id,
                self.route.contract.ref,
            )
            item.reply.cancel()
            return False
        return True

    async def _run(self, items: list[_Item]) -> None:
        """Call the handler once for ``items`` and give each caller its own item of the result."""
        if not items:
            return
        route, ref = self.route, self.route.contract.ref
        requests = [item.argument for item in items]
        contexts = [item.context for item in items]
        try:
            if route.is_async:
                work: asyncio.Future[Any] = asyncio.ensure_future(route.call(requests, contexts))
                _cancel_when_abandoned(work, items)
            else:
                assert self.pool is not None
                args, kwargs = route.arguments(requests, contexts)
                work = asyncio.get_running_loop().run_in_executor(
                    self.pool(), functools.partial(route.function, *args, **kwargs)
                )
            replies = await work
        except asyncio.CancelledError:
            if not work.cancelled() or any(not item.reply.done() for item in items):
                raise
            return  # every caller went away (the worker stopped), so the handler was stopped
        except (ServiceError, BrokenProcessPool) as error:
            # The callers' _call maps these as for any handler: the code, or a new pool.
            for item in items:
                _fail(item, error)
            return
        except Exception:
            if any(not item.reply.done() for item in items):
                logger.exception(
                    "batch handler %s failed on a batch of %d requests (%s)",
                    ref,
                    len(items),
                    _request_ids(items),
                )
            for item in items:
                _fail(
                    item,
                    BatchFailed(
                        f"internal error in handler {ref} (request {item.context.request_id}, "
                        f"one of a batch of {len(items)})"
                    ),
                )
            return
        self._hand_out(items, replies)

    def _hand_out(self, items: list[_Item], replies: Any) -> None:
        ref = self.route.contract.ref
        if not isinstance(replies, list | tuple) or len(replies) != len(items):
            got = (
                f"{len(replies)} items"
                if isinstance(replies, list | tuple)
                else f"a {type(replies).__name__}"
            )
            logger.error(
                "batch handler %s returned %s for a batch of %d requests (%s); it must return a "
                "list with one reply per request, in order",
                ref,
                got,
                len(items),
                _request_ids(items),
            )
            for item in items:
                _fail(
                    item,
                    BatchFailed(
                        f"batch handler {ref} returned {got} for a batch of {len(items)} "
                        f"requests (request {item.context.request_id})"
                    ),
                )
            return
        for item, reply in zip(items, replies, strict=True):
            if isinstance(reply, ServiceError):
                _fail(item, reply)
            elif isinstance(reply, BaseException):
                # Meant as this item's failure, but not a ServiceError: internal, as if raised.
                logger.error(
                    "batch handler %s returned an exception for request %s",
                    ref,
                    item.context.request_id,
                    exc_info=reply,
                )
                _fail(
                    item,
                    BatchFailed(
                        f"internal error in handler {ref} (request {item.context.request_id})"
                    ),
                )
            elif not item.reply.done():
                item.reply.set_result(reply)

    def _stopped(self, task: asyncio.Task[None]) -> None:
        self.running = None
        if not task.cancelled() and task.exception() is not None:
            # A bug here: every waiting caller still gets an answer, not its deadline.
            logger.error("batching %s failed", self.route.contract.ref, exc_info=task.exception())
            while self.waiting:
                _fail(self.waiting.popleft(), BatchFailed("internal error while batching"))


def batcher_for(
    batchers: dict[str, _Batcher], route: Route, pool: Callable[[], Executor] | None
) -> _Batcher:
    """The batcher of ``route`` in a session; a new one if the handler was registered again."""
    batcher = batchers.get(route.contract.ref)
    if batcher is None or batcher.route is not route:
        # A re-run notebook cell: the old batcher finishes what it holds, new requests go here.
        batcher = batchers[route.contract.ref] = _Batcher(route, pool)
    return batcher


def _fail(item: _Item, error: BaseException) -> None:
    if not item.reply.done():
        item.reply.set_exception(error)


def _cancel_when_abandoned(work: asyncio.Future[Any], items: list[_Item]) -> None:
    """Cancel an async batch handler once no caller waits for any of its replies."""

    def check(_: asyncio.Future[Any]) -> None:
        if all(item.reply.cancelled() for item in items) and not work.done():
            work.cancel()

    for item in items:
        item.reply.add_done_callback(check)


def _request_ids(items: list[_Item]) -> str:
    ids = [item.context.request_id for item in items]
    shown = ", ".join(ids[:5])
    return f"requests {shown}" + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
