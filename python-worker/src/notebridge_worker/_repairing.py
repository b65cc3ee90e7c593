"""The steps of validate-and-repair that the pipeline takes between attempts: run a
contract's checks on a reply, decide whether another attempt runs, say what the reply carries
beside its body, and the two stream modes, ``buffer`` (held, then repaired like a sync reply)
and ``verdict`` (judged at the end) (notebridge_worker.repair explains the whole)."""

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from notebridge_worker import exactjson
from notebridge_worker._checks import as_json_value, describe, violations_body
from notebridge_worker._streams import BufferedStream, StreamSink
from notebridge_worker.context import RequestContext
from notebridge_worker.contracts import Contract, RepairPolicy, Violation
from notebridge_worker.errors import ErrorReply
from notebridge_worker.protocol import (
    HEADER_ATTEMPTS,
    HEADER_USAGE,
    INTERNAL,
    INVALID_REPLY,
    STREAM_CHUNK,
    STREAM_END,
)
from notebridge_worker.repair import Repair, ReplyCheck
from notebridge_worker.tracing import attempt_span

logger = logging.getLogger("notebridge_worker")

MAX_CHECK_VIOLATIONS = 100
"""Violations of a reply's checks kept at most; the rest are counted in one more."""


def run_checks(
    ref: str, checks: Sequence[ReplyCheck], reply: Any, request: Any, request_id: str
) -> None:
    """Run a contract's checks on a reply its schema accepts; raise what they find.

    A check that raises is the worker's bug: ``internal``, logged with its traceback.
    """
    found: list[Violation] = []
    for check in checks:
        try:
            found.extend(check.run(reply, request))
        except Exception:
            logger.exception("check %s of %s failed on request %s", check.name, ref, request_id)
            raise ErrorReply(
                INTERNAL, f"internal error in check {check.name} (request {request_id})"
            ) from None
    if len(found) > MAX_CHECK_VIOLATIONS:
        # The error reply, and the next attempt's prompt, stay small.
        more = len(found) - MAX_CHECK_VIOLATIONS
        found = [
            *found[:MAX_CHECK_VIOLATIONS],
            Violation(instancePath="", keyword="checks", message=f"and {more} more, not listed"),
        ]
    if found:
        logger.error(
            "%s reply broke its checks (request %s): %s", ref, request_id, describe(found, "reply")
        )
        raise ErrorReply(
            INVALID_REPLY,
            f"{ref} reply broke the contract: {describe(found, 'reply')}",
            violations_body(found),
            violations=found,
        )


async def run_buffered_stream(
    attempt: Callable[[StreamSink], Awaitable[None]],
    contract: Contract,
    checks: Sequence[ReplyCheck],
    argument: Any,
    context: RequestContext,
    stream: StreamSink,
) -> None:
    """A stream whose repair is ``buffer``: each attempt (the pipeline's stream run) sends
    its chunks to a BufferedStream, which holds them until every one passed the chunk schema
    and all of them the contract's checks; a failure is repaired as a sync reply is
    (``context.repair.previous_output`` is the list of chunks). Then the chunks are sent,
    and the end carries the attempts and the usage. Heartbeats go out meanwhile.
    """
    policy = contract.repair
    assert policy is not None
    previous: list[Violation] | None = None
    while True:
        held = BufferedStream(stream)
        ended = False
        try:
            with attempt_span(contract.ref, context.reply_attempt, True):
                await attempt(held)
                ended = True
                if stream.cancelled.is_set():
                    return
                chunks = [exactjson.parse(body) for body in held.chunks]
                if checks:
                    request = as_json_value(argument)
                    run_checks(contract.ref, checks, chunks, request, context.request_id)
            for number, body in enumerate(held.chunks, start=1):
                await stream.send(STREAM_CHUNK, body, seq=number)
            headers = reply_headers(context, True)
            await stream.send(STREAM_END, seq=len(held.chunks), headers=headers)
            return
        except ErrorReply as error:
            error.headers = reply_headers(context, True)
            if error.code != INVALID_REPLY or not error.violations:
                raise
            # A chunk that broke the chunk schema: its pointers, like the checks', are
            # into the list of chunks.
            at = "" if ended else f"/{len(held.chunks)}"
            found = [Violation(v, instancePath=at + v["instancePath"]) for v in error.violations]
        sent = [exactjson.parse(body) for body in held.chunks]
        next_attempt(contract.ref, policy, context, found, previous, sent, "chunks")
        previous = found


def next_attempt(
    ref: str,
    policy: RepairPolicy,
    context: RequestContext,
    found: list[Violation],
    previous: list[Violation] | None,
    output: Any,
    what: str,
) -> None:
    """Set up the repair attempt after one whose ``output`` (``what``: "reply", "chunks")
    broke the contract with ``found``; raise the final ``invalid_reply`` when none runs."""
    stop = why_stop(policy, context, found, previous)
    if stop is not None:
        raise unrepaired(ref, context, found, stop)
    context.reply_attempt += 1
    context.repair = Repair(context.reply_attempt, policy.max_attempts, output, found)
    logger.info(
        "%s: the %s of request %s broke the contract; repair attempt %d of %d",
        ref,
        what,
        context.request_id,
        context.reply_attempt,
        policy.max_attempts,
    )


def judge(
    ref: str, checks: Sequence[ReplyCheck], chunks: list[bytes], request: Any, request_id: str
) -> bytes:
    """The end of a stream whose repair is ``verdict``: the checks' judgement of every chunk
    sent, ``{"verdict": {"valid": ..., "violations": [...]}}``."""
    found: list[Violation] = []
    if checks:
        values = [exactjson.parse(body) for body in chunks]
        try:
            run_checks(ref, checks, values, request, request_id)
        except ErrorReply as error:
            if error.code != INVALID_REPLY:
                raise
            found = error.violations
    return exactjson.dumps({"verdict": {"valid": not found, "violations": found}})


def unrepaired(ref: str, context: RequestContext, found: list[Violation], stop: str) -> ErrorReply:
    """The error of a reply that still breaks the contract when the attempts stop."""
    attempts = context.reply_attempt
    error = ErrorReply(
        INVALID_REPLY,
        f"{ref} reply broke the contract after {attempts} attempt(s), stopped as "
        f"{stop}: {describe(found, 'reply')}",
        exactjson.dumps({"violations": found, "attempts": attempts, "stopped": stop}),
        violations=found,
    )
    error.headers = reply_headers(context, True)
    return error


def why_stop(
    policy: RepairPolicy,
    context: RequestContext,
    found: list[Violation],
    previous: list[Violation] | None,
) -> str | None:
    """Why no further repair attempt runs, or None when one does."""
    if context.reply_attempt >= policy.max_attempts:
        return f"max_attempts {policy.max_attempts} reached"
    if context.time_left() <= 0:
        return "the deadline passed"
    tokens, cost = context.spent()
    if policy.max_tokens and tokens >= policy.max_tokens:
        return f"max_tokens {policy.max_tokens} spent"
    if policy.max_cost and cost >= policy.max_cost:
        return f"max_cost {policy.max_cost:g} spent"
    if previous is not None and _same_violations(found, previous):
        return "no progress (the same violations twice)"
    return None


def _same_violations(a: list[Violation], b: list[Violation]) -> bool:
    def key(v: Violation) -> tuple[str, str, str]:
        return (v["instancePath"], v["keyword"], v["message"])

    return sorted(map(key, a)) == sorted(map(key, b))


def reply_headers(context: RequestContext, repairs: bool) -> dict[str, str]:
    """Nb-Attempts for a contract with repair, Nb-Usage when the handler reported usage."""
    headers = {}
    if repairs:
        headers[HEADER_ATTEMPTS] = str(context.reply_attempt)
    if context.usage:
        headers[HEADER_USAGE] = exactjson.dumps([u.as_json() for u in context.usage]).decode()
    return headers
