"""How a Worker serves (WorkerConfig) and how a handler takes batches (Batch), each
validated when it is made."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

POOLS = ("thread", "process")
DEFAULT_MAX_INFLIGHT = 64
BATCHES_IN_FLIGHT = 4
"""With batch handlers and no max_inflight given, the bound holds this many of the largest
batch: one running, one filling, two waiting. A request then waits at most three calls of
the handler ahead of its own, and a burst of that size is queued rather than answered busy."""


@dataclass(frozen=True)
class WorkerConfig:
    """How a Worker serves; ``Worker(...)`` takes the same fields as keywords.

    ``max_inflight`` bounds the requests the process works on at once; past it, requests are
    answered ``busy`` at once rather than queued. None: 64, or, with batch handlers,
    four times the ``max_size`` of the largest batch if that is more (Worker.max_inflight). Plain
    ``def`` handlers run in a ``pool``: ``"thread"`` (``pool_size`` threads, default
    ``max_inflight``) or ``"process"`` (``pool_size`` processes, default one per CPU). With
    ``exact_numbers``, numbers with a fraction reach handlers as :class:`decimal.Decimal`.
    Raises ValueError on a value that cannot work, when made or replaced.
    """

    name: str = "notebridge"
    max_inflight: int | None = None
    pool: str = "thread"
    pool_size: int | None = None
    exact_numbers: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, not {self.name!r}")
        for field_name in ("max_inflight", "pool_size"):
            value = getattr(self, field_name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{field_name} must be at least 1, not {value!r}")
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {', '.join(POOLS)}, not {self.pool!r}")

    def replace(self, **changes: object) -> WorkerConfig:
        """A copy with ``changes``; None values leave a field as it is (unset flags)."""
        given = {name: value for name, value in changes.items() if value is not None}
        return dataclasses.replace(self, **given)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Batch:
    """How a handler wants its requests grouped: ``@worker.handler("score", batch=Batch())``.

    A batch closes when it holds ``max_size`` requests, or ``max_wait`` seconds after its
    first request arrived, whichever comes first; while it runs, the next batch fills. A
    request therefore waits at most ``max_wait`` (plus the batch ahead of it) to be run.
    """

    max_size: int = 64
    """The most requests one call of the handler gets (at least 1)."""
    max_wait: float = 0.005
    """Seconds a batch waits for more requests after its first one arrived (0: none)."""

    def __post_init__(self) -> None:
        size, wait = self.max_size, self.max_wait
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"Batch max_size must be an int of at least 1, not {size!r}")
        if (
            isinstance(wait, bool)
            or not isinstance(wait, int | float)
            or not math.isfinite(wait)
            or wait < 0
        ):
            raise ValueError(
                f"Batch max_wait must be a finite number of seconds, 0 or more, not {wait!r}"
            )
        # Frozen: the dataclass's own way to normalise a field is object.__setattr__.
        object.__setattr__(self, "max_wait", float(wait))
