"""The job records of the bucket ``nb_jobs`` (docs/protocol.md, "Job mode")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import nats.errors

from notebridge_worker import exactjson
from notebridge_worker.protocol import HEADER_ATTEMPTS, HEADER_USAGE, JOB_KEY_PREFIX

logger = logging.getLogger("notebridge_worker")

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

MAX_UPDATE_TRIES = 64
"""Compare-and-set rounds before a record update gives up (as the gateway's Store.Update)."""
NATS_TROUBLE = (nats.errors.Error, asyncio.TimeoutError, OSError)
"""What NATS raises when it is away or slow: a job step then waits for a later delivery."""
_ID_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class SkipUpdate(Exception):
    """The record says the delivery is not to run, or the outcome is not to be stored."""


class JobNotFound(Exception):
    """The job has no record: it expired, or its id is no job id."""


def valid_job_id(job_id: str) -> bool:
    """Whether ``job_id`` can be a job id, ``^[A-Za-z0-9_-]{1,64}$`` (docs/protocol.md)."""
    return 0 < len(job_id) <= 64 and set(job_id) <= _ID_CHARACTERS


def now() -> str:
    """RFC 3339 in UTC, as the gateway writes ``updated_at``."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class JobStore:
    """The job records of the bucket ``nb_jobs``, read whole and written by compare-and-set.

    Records are kept as parsed JSON with exact numbers, so members this SDK does not know,
    and every digit of a result, are written back as they were read.
    """

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def get(self, job_id: str) -> dict[str, Any]:
        """The record of ``job_id``; raises JobNotFound, ValueError, or NATS errors."""
        if not valid_job_id(job_id):
            raise JobNotFound(job_id)
        try:
            entry = await self.kv.get(JOB_KEY_PREFIX + job_id)
        except nats.js.errors.KeyNotFoundError:
            raise JobNotFound(job_id) from None
        record = exactjson.parse_exact(entry.value or b"null")
        if not isinstance(record, dict):
            raise ValueError(f"job {job_id}: the record is not a JSON object")
        return record

    async def update(self, job_id: str, change: Callable[[dict[str, Any]], bool]) -> None:
        """Read the record, let ``change`` modify it, write it if nobody wrote in between.

        ``change`` returns False to write nothing, or raises SkipUpdate to stop (re-raised).
        On a conflict the record is read again and ``change`` called again. Raises JobNotFound
        for a job without a record, and NATS errors when the bucket cannot be reached.
        """
        if not valid_job_id(job_id):
            raise JobNotFound(job_id)
        key = JOB_KEY_PREFIX + job_id
        for _ in range(MAX_UPDATE_TRIES):
            try:
                entry = await self.kv.get(key)
            except nats.js.errors.KeyNotFoundError:
                raise JobNotFound(job_id) from None
            record = exactjson.parse_exact(entry.value or b"null")
            if not isinstance(record, dict):
                raise ValueError(f"job {job_id}: the record is not a JSON object")
            if not change(record):
                return
            record["updated_at"] = now()
            try:
                await self.kv.update(key, exactjson.dumps(record), last=entry.revision)
            except nats.js.errors.KeyWrongLastSequenceError:
                continue  # someone wrote in between: read again, decide again
            return
        raise RuntimeError(f"job {job_id}: too many concurrent writers of its record")


def add_usage(record: dict[str, Any], reply_headers: Mapping[str, str]) -> None:
    """Add one delivery's handler runs and usage (its reply's Nb-Attempts and Nb-Usage) to the
    record's ``usage``, which sums every delivery's: what the whole job cost. A usage the
    record cannot hold is logged and left out: the outcome is stored all the same."""
    runs, reports = reply_headers.get(HEADER_ATTEMPTS), reply_headers.get(HEADER_USAGE)
    if runs is None and reports is None:
        return
    try:
        # The record was read with exact numbers: each member back to a plain one.
        old = record.get("usage")
        usage = {"runs": 0, "input_tokens": 0, "output_tokens": 0, "cost": 0.0}
        if isinstance(old, dict):
            usage = {key: type(value)(old.get(key, value)) for key, value in usage.items()}
        usage["runs"] += int(runs or 1)
        for report in exactjson.parse((reports or "[]").encode()):
            usage["input_tokens"] += int(report.get("input_tokens", 0))
            usage["output_tokens"] += int(report.get("output_tokens", 0))
            usage["cost"] = round(usage["cost"] + float(report.get("cost", 0)), 10)
    except (TypeError, ValueError, AttributeError) as error:
        logger.warning("job %s: its usage is not recorded (%s)", record.get("id"), error)
        return
    record["usage"] = usage


BROKER_PATIENCE_SECONDS = 15.0
"""How long a worker keeps trying to write a job's record while JetStream does not answer
(a node lost, a leader being elected) before it leaves the delivery for later."""


async def update_patiently(
    store: JobStore,
    job_id: str,
    change: Callable[[dict[str, Any]], bool],
    keep_delivery: Callable[[], Awaitable[Any]],
) -> None:
    """``store.update``, tried again while JetStream does not answer, for up to
    BROKER_PATIENCE_SECONDS, with ``keep_delivery`` (the message's in-progress) between tries
    so that the delivery stays this worker's: a record written late beats a job run again,
    or given up on after its deliveries ran out during an election. Raises what ``update``
    raises once the patience is spent."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + BROKER_PATIENCE_SECONDS
    pause = 0.1
    while True:
        try:
            await store.update(job_id, change)
            return
        except NATS_TROUBLE:
            if loop.time() + pause > give_up:
                raise
        logger.info("job %s: JetStream does not answer; trying its record again", job_id)
        with contextlib.suppress(*NATS_TROUBLE):
            await keep_delivery()
        await asyncio.sleep(pause)
        pause = min(pause * 2, 2.0)
