"""What one serving session owns: the pools handlers run in, the work in flight, counters."""

import asyncio
import functools
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from notebridge_worker._routes import Route
from notebridge_worker.errors import StartError
from notebridge_worker.notebook import NOTEBOOK_ATTRIBUTE, load_notebook

logger = logging.getLogger("notebridge_worker")

REPLIES_AFTER_CANCEL_SECONDS = 1.0
"""How long requests cancelled at the end of the grace period get to send their replies."""


@dataclass
class Counters:
    """What ``$SRV.STATS`` reports for one endpoint, counted by the SDK (see _endpoint_stats)."""

    answered: int = 0
    errors: int = 0
    processing_ns: int = 0
    last_error: str = ""
    runs: int = 0
    """Contracts with repair: the handler's runs, first attempts and repairs."""
    repairs: dict[str, int] = field(default_factory=dict)
    """Contracts with repair: requests by outcome (first_attempt, repaired, unrepaired,
    failed), as the gateway's notebridge_repair_outcomes_total counts them."""


@dataclass
class Runtime:
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
    counters: dict[str, Counters] = field(default_factory=lambda: defaultdict(Counters))
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
        task.add_done_callback(log_unexpected_failure)

    def keep_until_done(self, work: "asyncio.Future[Any]") -> None:
        """Count ``work`` in flight until it ends: a thread or a process cannot be stopped."""
        self.stragglers.add(work)
        work.add_done_callback(self.stragglers.discard)
        work.add_done_callback(log_unexpected_failure)

    def count_repair(self, ref: str, runs: int, outcome: str) -> None:
        """Count a request of a contract with repair: its handler runs and its outcome."""
        counters = self.counters[ref]
        counters.runs += runs
        counters.repairs[outcome] = counters.repairs.get(outcome, 0) + 1

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
            close_process_pool(broken)

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
            close_process_pool(self.process_pool)


def check_runs_in_a_process(route: Route) -> None:
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


def process_pool_factory(routes: list[Route], size: int) -> Callable[[], ProcessPoolExecutor]:
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


async def warm_up(pool: ProcessPoolExecutor, size: int) -> None:
    """Start every process now, so the first requests do not wait for them (nor fail late)."""
    loop = asyncio.get_running_loop()
    try:
        await asyncio.gather(*(loop.run_in_executor(pool, os.getpid) for _ in range(size)))
    except BrokenProcessPool:
        raise StartError(
            "the process pool did not start: a process failed to load the handlers' module "
            "or notebook (its error is above)"
        ) from None


def close_process_pool(pool: Executor) -> None:
    """Stop a process pool without waiting: its processes ignore signals, so kill them."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.kill()


def log_unexpected_failure(work: "asyncio.Future[Any]") -> None:
    if not work.cancelled() and work.exception() is not None:
        # A handler that failed after its deadline was answered, or a bug in this module.
        logger.error("request work failed after its reply", exc_info=work.exception())
