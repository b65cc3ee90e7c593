"""A contract as the worker holds it: its manifest's fields, compiled schemas and examples."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from jsonschema.protocols import Validator

from notebridge_worker import integers
from notebridge_worker.contracts import fastcheck
from notebridge_worker.contracts.violations import Violation, violations
from notebridge_worker.protocol import contract_ref

SYNC = "sync"
"""One request, one reply."""


STREAM = "stream"
"""One request, a sequence of chunks (the handler is a generator)."""


JOB = "job"
"""One request that becomes a durable job, pulled from JetStream (notebridge_worker.jobs)."""


SUPPORTED_MODES = frozenset({SYNC, STREAM, JOB})


MAX_TIMEOUT_SECONDS = 3600
"""Past an hour, a request is a job, not a sync call or a stream."""


MAX_JOB_TIMEOUT_SECONDS = 86400
"""The bound of one attempt of a job."""


DEFAULT_IDLE_TIMEOUT_SECONDS = 10.0
"""How long a stream may be silent when its manifest does not say."""


MAX_ATTEMPTS_BOUND = 100


MAX_ACK_WAIT_SECONDS = 3600


DEFAULT_MAX_ATTEMPTS = 3


DEFAULT_ACK_WAIT_SECONDS = 30.0


def is_integer(value: Any) -> bool:
    """A JSON integer as a manifest holds it: not a bool, and not 2.0, as Go's int is not."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A JSON number as a manifest holds it (exact: a fraction is a Decimal)."""
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


class ContractError(Exception):
    """A contract, one of its schemas or one of its examples cannot be enforced.

    The message names the file and, inside a schema, the JSON pointer of each problem,
    one problem per line.
    """


@dataclass(frozen=True)
class Example:
    """A request a contract documents, and the response a deterministic handler gives."""

    name: str
    request: Any
    response: Any | None = None


@dataclass(frozen=True)
class Merge:
    """How a stream contract's chunks become one JSON reply; exactly one field is set.

    ``concat`` names a string member of every chunk: the reply is ``{concat: the members
    joined}``. ``collect`` names the reply's one member, the list of every chunk. The
    gateway merges this way for clients that ask for ``application/json``.
    """

    concat: str | None = None
    collect: str | None = None

    def apply(self, chunks: list[Any]) -> dict[str, Any]:
        """The reply the gateway builds from ``chunks`` (JSON values).

        Raises ValueError if a chunk lacks what ``concat`` needs.
        """
        if self.concat:
            parts = []
            for number, chunk in enumerate(chunks, start=1):
                part = chunk.get(self.concat) if isinstance(chunk, dict) else None
                if not isinstance(part, str):
                    raise ValueError(
                        f"cannot merge stream chunks: chunk {number} has no string {self.concat!r}"
                    )
                parts.append(part)
            return {self.concat: "".join(parts)}
        if self.collect:
            return {self.collect: list(chunks)}
        raise ValueError("cannot merge stream chunks: the merge names no strategy")


@dataclass(frozen=True)
class RepairPolicy:
    """A contract's validate-and-repair policy (its manifest's ``repair``).

    When a reply breaks the response schema or one of the worker's checks, the handler is
    called again with the violations, ``max_attempts`` calls in all at most; no further
    attempt starts once the usage reported so far reaches ``max_tokens`` or ``max_cost``
    (0: no bound).
    """

    max_attempts: int
    max_tokens: int = 0
    max_cost: float = 0.0
    stream: str = ""
    """A stream contract's mode: ``buffer`` (chunks held until they pass, repaired) or
    ``verdict`` (sent as they come, judged at the end: one attempt); "" for other modes."""


@dataclass(frozen=True)
class Contract:
    """One major version of a named contract, with its schemas compiled."""

    name: str
    version: int
    description: str
    mode: str
    timeout_seconds: float
    deprecated: bool
    examples: tuple[Example, ...]
    digest: str
    """``sha256:<hex>`` over the schema files (docs/protocol.md, "Contract digest")."""
    manifest_path: Path
    request_schema_path: Path
    response_schema_path: Path | None
    """None only for a stream contract without ``merge``: it has no single reply."""
    request_validator: Validator = field(repr=False, compare=False)
    response_validator: Validator | None = field(repr=False, compare=False)
    chunk_schema_path: Path | None = None
    """The schema of every chunk of a stream contract; None for other modes."""
    chunk_validator: Validator | None = field(default=None, repr=False, compare=False)
    merge: Merge | None = None
    """How the chunks of a stream contract merge into one reply, if they can."""
    idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS
    """How long a stream may go without a message before the gateway presumes it dead."""
    request_check: fastcheck.Check = field(default=fastcheck.never, repr=False, compare=False)
    """Proves a request valid without the validator (notebridge_worker.fastpath)."""
    response_check: fastcheck.Check = field(default=fastcheck.never, repr=False, compare=False)
    chunk_check: fastcheck.Check = field(default=fastcheck.never, repr=False, compare=False)
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    """How many times a job of this contract is delivered to a worker at most (job mode)."""
    ack_wait_seconds: float = DEFAULT_ACK_WAIT_SECONDS
    """How long a worker may hold a job without a heartbeat before it is delivered again."""
    repair: RepairPolicy | None = None
    """How a reply that breaks the contract is repaired (sync and job modes); None: it is not."""
    cache_ttl_seconds: float | None = None
    """A deterministic sync contract's replies may be served again by the gateway this long."""
    compose: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    """A composed contract's ``compose`` member as the manifest writes it: the gateway runs
    its steps, calling other contracts; None for a contract that workers serve."""
    tenant: str | None = None
    """The pointer of the request member that names the tenant a request is for (the gateway
    holds it to the caller's API key); None when the contract is not tenant-scoped."""
    request_integers: integers.Convert | None = field(default=None, repr=False, compare=False)
    """Turns 2.0 into 2 where the request schema says integer (notebridge_worker.integers);
    None when it says integer nowhere."""

    @property
    def ref(self) -> str:
        """The protocol's name of this contract version, e.g. ``summarize/v1``."""
        return contract_ref(self.name, self.version)

    @property
    def composed(self) -> bool:
        """Whether the gateway composes this contract from others: no worker serves it."""
        return self.compose is not None

    def request_violations(self, instance: Any) -> list[Violation]:
        """Return every way ``instance`` breaks the request schema, [] if it is valid."""
        return violations(self.request_validator, instance)

    def response_violations(self, instance: Any) -> list[Violation]:
        """Return every way ``instance`` breaks the response schema, [] if it is valid."""
        if self.response_validator is None:
            raise ValueError(f"{self.ref} has no response schema")
        return violations(self.response_validator, instance)

    def chunk_violations(self, instance: Any) -> list[Violation]:
        """Return every way ``instance`` breaks the chunk schema, [] if it is valid."""
        if self.chunk_validator is None:
            raise ValueError(f"{self.ref} is not a stream contract: it has no chunk schema")
        return violations(self.chunk_validator, instance)
