"""The steps of validate-and-repair that the pipeline's ``_run_sync`` takes between attempts:
run a contract's checks on a reply, decide whether another attempt runs, and say what the
reply carries beside its body (notebridge_worker.repair explains the whole)."""

import logging
from collections.abc import Sequence
from typing import Any

from notebridge_worker import exactjson
from notebridge_worker._checks import describe, violations_body
from notebridge_worker.context import RequestContext
from notebridge_worker.contracts import RepairPolicy, Violation
from notebridge_worker.errors import ErrorReply
from notebridge_worker.protocol import HEADER_ATTEMPTS, HEADER_USAGE, INTERNAL, INVALID_REPLY
from notebridge_worker.repair import ReplyCheck

logger = logging.getLogger("notebridge_worker")


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
