"""Pulling a serving worker's jobs from JetStream and running each delivery.

The steps of a delivery are in the package's docstring (jobs/__init__.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import api

from notebridge_worker import exactjson
from notebridge_worker._natsio import one_line
from notebridge_worker._pipeline import Pipeline
from notebridge_worker._routes import Route
from notebridge_worker.contracts import JOB
from notebridge_worker.errors import ErrorReply, StartError
from notebridge_worker.jobs.control import JobControl
from notebridge_worker.jobs.store import (
    NATS_TROUBLE,
    JobNotFound,
    JobStore,
    SkipUpdate,
    add_usage,
    update_patiently,
)
from notebridge_worker.protocol import (
    HEADER_JOB_ID,
    HEADER_REQUEST_ID,
    INTERNAL,
    JOB_BUCKET,
    JOB_FAILED,
    JOB_FINAL,
    JOB_QUEUED,
    JOB_RUNNING,
    JOB_STREAM,
    JOB_SUCCEEDED,
    job_cancel_subject,
    job_consumer,
    job_subject,
)

logger = logging.getLogger("notebridge_worker")

FETCH_SECONDS = 1.0
"""How long one pull waits for a job; also how long a stopping worker may wait for a pull."""
SLOT_WAIT_SECONDS = 0.2
"""How often a worker at its in-flight limit looks again for a free slot."""
RETRY_SECONDS = 1.0
"""How long a worker waits before it pulls again after NATS failed a pull."""


class JobPuller:
    """Pulls the jobs of a serving worker's job contracts and runs each in its own task.

    ``routes`` is the worker's live view of its handlers (Worker.routes): a handler registered
    again while serving takes the next job. Jobs and requests share ``max_inflight``.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        routes: Mapping[str, Route],
        worker_name: str,
        max_inflight: int,
        nc: Client,
    ) -> None:
        self.pipeline = pipeline
        self.runtime = pipeline.runtime
        self.live_routes = routes
        self.worker_name = worker_name
        self.max_inflight = max_inflight
        self.nc = nc
        self.routes = {ref: r for ref, r in routes.items() if r.contract.mode == JOB}
        self.store: JobStore | None = None
        self._subscriptions: dict[str, Any] = {}
        self._pullers: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._suspects: set[asyncio.Task[None]] = set()
        """Suspects this process holds (see suspect): while it holds one, it pulls nothing."""
        self._apart = asyncio.Lock()

    async def start(self) -> None:
        """Check the JetStream objects the gateway creates, bind the consumers, start pulling.

        Raises StartError naming what is missing: workers never create the stream or the
        bucket (a gateway serving the contracts does, at start).
        """
        if not self.routes:
            return
        js = self.nc.jetstream()
        refs = ", ".join(sorted(self.routes))
        hint = f"start a gateway that serves {refs} first: it creates the job stream and bucket"
        try:
            await js.stream_info(JOB_STREAM)
        except nats.js.errors.NotFoundError:
            raise StartError(f"the JetStream stream {JOB_STREAM} is missing; {hint}") from None
        except (
            nats.js.errors.ServiceUnavailableError,
            nats.errors.NoRespondersError,
            asyncio.TimeoutError,
        ):
            raise StartError(
                f"the NATS server has no JetStream, which job contracts ({refs}) need; {hint}"
            ) from None
        try:
            kv = await js.key_value(JOB_BUCKET)
        except nats.js.errors.NotFoundError:
            raise StartError(f"the JetStream bucket {JOB_BUCKET} is missing; {hint}") from None
        self.store = JobStore(kv)
        for ref, route in self.routes.items():
            contract = route.contract
            durable = job_consumer(contract.name, contract.version)
            try:
                info = await js.consumer_info(JOB_STREAM, durable)
            except nats.js.errors.NotFoundError:
                # Allowed with exactly the gateway's configuration (docs/protocol.md).
                await js.add_consumer(
                    JOB_STREAM,
                    api.ConsumerConfig(
                        durable_name=durable,
                        filter_subject=job_subject(contract.name, contract.version),
                        ack_policy=api.AckPolicy.EXPLICIT,
                        ack_wait=contract.ack_wait_seconds,
                        max_deliver=contract.max_attempts,
                    ),
                )
            else:
                config = info.config
                if (config.max_deliver, config.ack_wait) != (
                    contract.max_attempts,
                    contract.ack_wait_seconds,
                ):
                    logger.warning(
                        "%s: consumer %s has max_deliver %s and ack_wait %s s, this worker's "
                        "contract says %d and %g s: the gateway and the worker hold different "
                        "manifests",
                        ref,
                        durable,
                        config.max_deliver,
                        config.ack_wait,
                        contract.max_attempts,
                        contract.ack_wait_seconds,
                    )
            self._subscriptions[ref] = await js.pull_subscribe_bind(
                durable=durable, stream=JOB_STREAM
            )
        for ref in self.routes:
            self._pullers.append(asyncio.create_task(self._pull(ref)))
        logger.info("worker %s pulling jobs of %s", self.worker_name, refs)

    async def stop_pulling(self) -> None:
        """Pull no more jobs; the running ones go on (the worker's grace period bounds them)."""
        self._stopping.set()
        if self._pullers:
            # A pull under way ends within FETCH_SECONDS (and what it brings is run);
            # cancelling it could leave a job delivered to a subscription nobody reads,
            # spending one of its attempts, until its ack wait.
            await asyncio.wait(self._pullers, timeout=FETCH_SECONDS + 1)
            for puller in self._pullers:
                puller.cancel()
        for subscription in self._subscriptions.values():
            with contextlib.suppress(*NATS_TROUBLE):
                await subscription.unsubscribe()
        self._subscriptions.clear()

    def _free_slot(self, _: object) -> None:
        self._slot_freed.set()

    @contextlib.asynccontextmanager
    async def suspect(self, held: asyncio.Event) -> AsyncIterator[None]:
        """Run a suspect's attempt apart from every other suspect; pull nothing meanwhile.

        A suspect is a job whose previous attempt ended without an outcome: most likely its
        process died, maybe of another job. A dead worker's jobs come back together after
        the ack wait; were they run side by side again, a poison job among them would spend
        an attempt of each of the others every time it kills its worker. Apart, it kills
        only itself and the plain jobs beside it, which then are suspects too: a job loses
        at most one attempt to a job that kills its worker on every attempt. ``held`` is set
        once the pullers know to pause: a suspect waiting for its turn would die with the
        one running.
        """
        task = asyncio.current_task()
        assert task is not None
        self._suspects.add(task)
        held.set()
        try:
            async with self._apart:
                yield
        finally:
            self._suspects.discard(task)
            self._slot_freed.set()

    async def _pull(self, ref: str) -> None:
        subscription = self._subscriptions[ref]
        while not self._stopping.is_set():
            if self._suspects or self.runtime.inflight() >= self.max_inflight:
                self._slot_freed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._slot_freed.wait(), SLOT_WAIT_SECONDS)
                continue
            try:
                # One at a time: a job waiting in this process for a slot would run down its
                # ack wait and be delivered again elsewhere.
                messages = await subscription.fetch(1, timeout=FETCH_SECONDS)
            except asyncio.TimeoutError:
                continue
            except (nats.errors.Error, OSError) as error:
                if self._stopping.is_set():
                    return
                logger.warning("%s: pulling jobs failed (%s); trying again", ref, error)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            for msg in messages:
                # Started even when the worker is stopping: its delivery is counted already
                # (a nak would spend one of the job's attempts on nothing), and the grace
                # period may be enough to run it.
                assert self.store is not None
                # Looked up per job, so that registering the handler again (a re-run
                # notebook cell) takes effect while serving.
                route = self.live_routes.get(ref, self.routes[ref])
                run = _JobRun(self, route, msg)
                task = asyncio.create_task(run.run())
                self.runtime.answer(ref, task)
                task.add_done_callback(self._free_slot)
                # The next pull waits until this job has started, been skipped, or found to
                # be a suspect: a process that dies spends the delivery of every job it
                # holds, so it holds none unstarted for longer than a few round trips.
                decided = asyncio.ensure_future(run.decided.wait())
                try:
                    await asyncio.wait({decided, task}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    decided.cancel()


class _JobRun:
    """One delivery of a job message (docs/protocol.md, "What a worker does with each")."""

    def __init__(self, puller: JobPuller, route: Route, msg: Msg) -> None:
        self.puller = puller
        self.route = route
        self.contract = route.contract
        self.msg = msg
        assert puller.store is not None
        self.store = puller.store
        self.decided = asyncio.Event()
        """Set once the delivery has started, been skipped, or found to be a suspect."""

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            self.decided.set()

    async def _run(self) -> None:
        msg, ref = self.msg, self.contract.ref
        headers = msg.headers or {}
        job_id = headers.get(HEADER_JOB_ID, "")
        try:
            attempt = msg.metadata.num_delivered
        except Exception:
            attempt = None
        if not job_id or not attempt:
            logger.error("%s: a message without %s is not a job; terminated", ref, HEADER_JOB_ID)
            await _settle(msg.term, job_id, "terminate")
            return
        try:
            record = await self.store.get(job_id)
        except JobNotFound:
            await _settle(msg.ack, job_id, "ack")
            return
        except (*NATS_TROUBLE, ValueError) as error:
            logger.warning("job %s: could not read its record (%s); left for later", job_id, error)
            return
        if _spent(record, attempt):
            await _settle(msg.ack, job_id, "ack")
            return
        if record.get("status") != JOB_RUNNING:
            await self._attempt(job_id, attempt, headers)
            return
        # An attempt started and stored no outcome: its worker died (maybe of another job),
        # stopped before it ended, or stopped heartbeating.
        logger.warning(
            "job %s: attempt %d ended without an outcome; attempt %d runs apart from other "
            "such jobs, and this worker pulls no job until it ends",
            job_id,
            _attempts(record),
            attempt,
        )
        # Another suspect may run before it (pullers of two contracts): heartbeat meanwhile.
        waiting = asyncio.create_task(_heartbeat(msg, self.contract.ack_wait_seconds, job_id))
        try:
            async with self.puller.suspect(self.decided):
                waiting.cancel()
                await self._attempt(job_id, attempt, headers)
        finally:
            waiting.cancel()

    async def _attempt(self, job_id: str, attempt: int, headers: dict[str, str]) -> None:
        """Steps 4 to 9 of docs/protocol.md: start the attempt, run it, store its outcome."""
        msg, ref = self.msg, self.contract.ref

        def start(record: dict[str, Any]) -> bool:
            if _spent(record, attempt):
                raise SkipUpdate
            record["status"], record["attempts"] = JOB_RUNNING, attempt
            return True

        started = time.perf_counter_ns()
        loop = asyncio.get_running_loop()
        control = JobControl(self.store, job_id, attempt, loop)

        async def on_cancel(_: Msg) -> None:
            control.cancel()

        # Listen for a cancel before the record says running: a DELETE that finds the job
        # running publishes the cancel at once, and must find this worker listening.
        try:
            cancels = await self.puller.nc.subscribe(job_cancel_subject(job_id), cb=on_cancel)
            await self.puller.nc.flush()
        except NATS_TROUBLE as error:
            logger.warning("job %s: could not subscribe to its cancellation (%s)", job_id, error)
            return
        try:
            await update_patiently(self.store, job_id, start, msg.in_progress)
        except (SkipUpdate, JobNotFound):
            await cancels.unsubscribe()
            await _settle(msg.ack, job_id, "ack")
            return
        except (*NATS_TROUBLE, RuntimeError, ValueError) as error:
            await cancels.unsubscribe()
            logger.warning("job %s: could not mark it running (%s); left for later", job_id, error)
            return
        self.decided.set()
        logger.info(
            "job %s of %s: attempt %d of %d", job_id, ref, attempt, self.contract.max_attempts
        )
        heartbeat = asyncio.create_task(_heartbeat(msg, self.contract.ack_wait_seconds, job_id))
        request_id = headers.get(HEADER_REQUEST_ID) or job_id
        processing = asyncio.ensure_future(
            self.puller.pipeline.process(self.route, msg.data, headers, request_id, job=control)
        )
        cancel_wait = asyncio.ensure_future(control.cancel_requested.wait())
        try:
            await asyncio.wait({processing, cancel_wait}, return_when=asyncio.FIRST_COMPLETED)
            if control.cancelled:
                heartbeat.cancel()
                await self._cancelled(processing, job_id)
                return
            result, error, spent = _outcome(processing, job_id)
            outcome_error = None if error is None else f"{error['code']}: {error['message']}"
            self.puller.runtime.count(ref, started, outcome_error)
            # A thread's last reports reached the loop before its result did: store them
            # before the outcome, which ends progress.
            await control.flush()
        except asyncio.CancelledError:
            # The worker stops and its grace period is over: the job stays unacknowledged,
            # and JetStream delivers it again after the ack wait.
            processing.cancel()
            logger.warning(
                "job %s: the worker stopped before it ended; left for redelivery", job_id
            )
            raise
        finally:
            control.close()
            heartbeat.cancel()
            cancel_wait.cancel()
            with contextlib.suppress(*NATS_TROUBLE):
                await cancels.unsubscribe()
        await self._store_outcome(job_id, attempt, result, error, spent)

    async def _cancelled(self, processing: asyncio.Future[Any], job_id: str) -> None:
        """Stop the handler and ack, writing nothing: the gateway has stored ``cancelled``."""
        logger.info("job %s was cancelled; stopping its handler", job_id)
        if self.route.is_async:
            processing.cancel()
        await _settle(self.msg.ack, job_id, "ack")
        # A thread cannot be stopped (its handler may poll ctx.cancelled): the job keeps its
        # in-flight slot until the handler returns or its deadline passes; its result is
        # dropped.
        await asyncio.wait({processing})
        if not processing.cancelled():
            processing.exception()

    async def _store_outcome(
        self,
        job_id: str,
        attempt: int,
        result: bytes | None,
        error: dict[str, str] | None,
        spent: Mapping[str, str],
    ) -> None:
        last = attempt >= self.contract.max_attempts

        def finish(record: dict[str, Any]) -> bool:
            if record.get("status") in JOB_FINAL:
                raise SkipUpdate  # cancelled meanwhile: the result is not wanted
            add_usage(record, spent)
            if error is None:
                record["status"] = JOB_SUCCEEDED
                record["result"] = exactjson.parse_exact(result or b"null")
                record.pop("error", None)
            else:
                record["status"] = JOB_FAILED if last else JOB_QUEUED
                record["error"] = error
            return True

        try:
            await update_patiently(self.store, job_id, finish, self.msg.in_progress)
        except SkipUpdate:
            await _settle(self.msg.ack, job_id, "ack")
            return
        except (JobNotFound, *NATS_TROUBLE, RuntimeError, ValueError) as trouble:
            # Not stored: JetStream delivers the message again after the ack wait.
            logger.warning("job %s: could not store its outcome (%s)", job_id, trouble)
            return
        if error is not None and not last:
            logger.info(
                "job %s: attempt %d failed (%s); it will be retried", job_id, attempt, error["code"]
            )
            await _settle(self.msg.nak, job_id, "nak")
        else:
            outcome = "succeeded" if error is None else f"failed ({error['code']})"
            logger.info("job %s %s after %d attempt(s)", job_id, outcome, attempt)
            await _settle(self.msg.ack, job_id, "ack")


def _outcome(
    processing: asyncio.Future[Any], job_id: str
) -> tuple[bytes | None, dict[str, str] | None, Mapping[str, str]]:
    """The checked result, or the error of the attempt, as the record stores it, and the
    reply's headers (its handler runs and usage)."""
    try:
        reply = processing.result()
        return (reply.body if reply is not None else None), None, reply.headers
    except ErrorReply as error:
        return None, {"code": error.code, "message": one_line(error.message)}, error.headers
    except Exception:
        logger.exception("job %s: the worker failed running it", job_id)
        failure = {"code": INTERNAL, "message": f"internal error in the worker (job {job_id})"}
        return None, failure, {}


def _spent(record: dict[str, Any], attempt: int) -> bool:
    """Whether delivery ``attempt`` is not to run: the job is over, or the delivery is a copy.

    A delivery counts only when it is further than the record: a lower count is a copy of
    the message, published again by an idempotent replay.
    """
    return record.get("status") in JOB_FINAL or attempt <= _attempts(record)


def _attempts(record: dict[str, Any]) -> int:
    attempts = record.get("attempts", 0)
    return attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else 0


async def _heartbeat(msg: Msg, ack_wait_seconds: float, job_id: str) -> None:
    """Tell JetStream the job is alive three times per ack wait, until cancelled."""
    while True:
        await asyncio.sleep(ack_wait_seconds / 3)
        try:
            await msg.in_progress()
        except NATS_TROUBLE as error:
            logger.warning("job %s: heartbeat failed: %s", job_id, error)


async def _settle(action: Callable[[], Any], job_id: str, what: str) -> None:
    try:
        await action()
    except NATS_TROUBLE as error:
        logger.warning("job %s: could not %s its message: %s", job_id, what, error)
