"""What travels beside a reply in the offline TestClient: its attempts and usage."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from notebridge_worker import exactjson
from notebridge_worker.protocol import HEADER_ATTEMPTS, HEADER_USAGE
from notebridge_worker.repair import Usage


@dataclass(frozen=True)
class Exchange:
    """A reply with what travels beside it: the attempts and usage the gateway sums."""

    value: Any
    """The reply, as JSON values."""
    attempts: int | None
    """How many times the handler ran: set for a contract with ``repair``, else None."""
    usage: list[Usage]
    """Every attempt's usage reports, in order."""
    headers: dict[str, str]
    """The reply's NATS headers (Nb-Attempts, Nb-Usage), as a served reply carries them."""


def accounts(headers: Mapping[str, str]) -> tuple[int | None, list[Usage]]:
    """The attempts and usage a reply's headers carry."""
    attempts = headers.get(HEADER_ATTEMPTS)
    usage = [Usage(**item) for item in exactjson.parse(headers.get(HEADER_USAGE, "[]"))]
    return (int(attempts) if attempts is not None else None), usage
