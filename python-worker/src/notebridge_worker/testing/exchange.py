"""What a call of the offline TestClient gets back: the reply with its attempts and usage,
or the error (CallError), and a stream's chunks merged as the gateway merges them."""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from notebridge_worker import exactjson
from notebridge_worker._checks import describe, violations_body
from notebridge_worker.contracts import Contract, Violation
from notebridge_worker.protocol import HEADER_ATTEMPTS, HEADER_USAGE, INVALID_REPLY
from notebridge_worker.repair import Usage


class CallError(Exception):
    """The error reply a served request would have got: its code, message and violations.

    For a stream, ``chunks`` holds the chunks sent before the error (as JSON values). For a
    contract with ``repair``, ``attempts`` is how many times the handler ran (else None);
    ``usage`` holds what every attempt reported.
    """

    def __init__(
        self,
        code: str,
        message: str,
        violations: list[Violation],
        chunks: list[Any] | None = None,
        *,
        attempts: int | None = None,
        usage: list[Usage] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.violations = violations
        self.chunks = chunks or []
        self.attempts = attempts
        self.usage = usage or []


@dataclass(frozen=True)
class Exchange:
    """A reply with what travels beside it: the attempts and usage the gateway sums."""

    value: Any
    """The reply, as JSON values; for a stream contract, the list of its chunks."""
    attempts: int | None
    """How many times the handler ran: set for a contract with ``repair``, else None."""
    usage: list[Usage]
    """Every attempt's usage reports, in order."""
    headers: dict[str, str]
    """The reply's NATS headers (Nb-Attempts, Nb-Usage), as a served reply carries them (for a
    stream, its end's)."""
    verdict: Any = None
    """A stream whose repair is ``verdict``: ``{"valid": ..., "violations": [...]}``."""


def accounts(headers: Mapping[str, str]) -> tuple[int | None, list[Usage]]:
    """The attempts and usage a reply's headers carry."""
    attempts = headers.get(HEADER_ATTEMPTS)
    usage = [Usage(**item) for item in exactjson.parse(headers.get(HEADER_USAGE, "[]"))]
    return (int(attempts) if attempts is not None else None), usage


def merged_reply(contract: Contract, chunks: list[bytes]) -> bytes:
    """The chunks merged as the gateway merges them, checked against the response schema."""
    assert contract.merge is not None
    sent = [exactjson.parse(chunk) for chunk in chunks]
    try:
        merged = contract.merge.apply([exactjson.parse_exact(chunk) for chunk in chunks])
    except ValueError as error:
        raise CallError(INVALID_REPLY, f"{contract.ref}: {error}", [], sent) from None
    body = exactjson.dumps(merged)
    found = contract.response_violations(exactjson.parse_exact(body))
    if found:
        raise CallError(
            INVALID_REPLY,
            f"{contract.ref} merged reply broke the contract: {describe(found, 'reply')}",
            exactjson.parse(violations_body(found))["violations"],
            sent,
        )
    return body


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values: numbers by value (1.0 == 1), but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float | Decimal):
        return isinstance(b, int | float | Decimal) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict) and a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same_json, a, b))
    return type(a) is type(b) and a == b
