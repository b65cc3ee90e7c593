"""What a handler may know about the request it serves, besides the request itself."""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from notebridge_worker.repair import Repair, Usage, checked_usage

MAX_USAGE_REPORTS = 100
"""Usage reports one request keeps; more are dropped (they travel in one NATS header)."""


class JobHandle(Protocol):
    """What a context needs of the job it runs: jobs.JobControl, or its detached copy in a
    process pool."""

    @property
    def job_id(self) -> str: ...

    @property
    def attempt(self) -> int: ...

    @property
    def cancelled(self) -> bool: ...

    async def progress(self, fraction: float, message: str | None = None) -> None: ...

    def report(self, fraction: float, message: str | None = None) -> None: ...


@dataclass
class RequestContext:
    """The context of one request, passed to handlers that take a second parameter.

    ``deadline`` is absolute, Unix time in seconds: past it nobody waits for the reply any
    more (the gateway has answered 504), so long work should check :meth:`time_left`.

    For a job (a ``job`` contract) ``job_id`` and ``attempt`` (1, 2, ...) are set, the
    deadline is the contract's ``timeout_seconds`` from the start of this attempt, the handler
    may report how far it is with :meth:`progress` or :meth:`report_progress`, and
    :attr:`cancelled` turns true once the job is cancelled. For other requests progress
    reports do nothing, so one handler serves both and runs in offline tests.
    """

    request_id: str
    deadline: float
    contract: str
    version: int
    headers: Mapping[str, str] = field(default_factory=dict)
    job: JobHandle | None = field(default=None, repr=False, compare=False)
    """The job this request runs (its id, attempt, progress reports); None unless a job."""
    repair: Repair | None = None
    """None on the first call of the handler; on a repair attempt (a contract with
    ``repair``), the previous output and the violations it must fix (notebridge_worker.repair).
    """
    usage: list[Usage] = field(default_factory=list, repr=False, compare=False)
    """What each attempt reported with :meth:`report_usage`, in order."""
    reply_attempt: int = 1
    """Which call of the handler for this request this is: 1, then 2, 3... on repairs."""

    def report_usage(
        self,
        *,
        model: str | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cost: float = 0.0,
    ) -> None:
        """Record what this attempt consumed: a model's tokens, a cost in your currency.

        Call it once per model call; every attempt's reports reach the gateway, which sums
        them into ``Notebridge-Cost`` and the token headers of the response, so repairs are
        never free in the accounts. Safe from any thread; in a process pool the reports are
        lost (the context is a copy there). Raises ValueError for a negative or non-integer
        token count, or a cost that is not a finite number >= 0.
        """
        fields = checked_usage(model, input_tokens, output_tokens, cost)
        if len(self.usage) < MAX_USAGE_REPORTS:
            self.usage.append(Usage(self.reply_attempt, *fields))

    def spent(self) -> tuple[int, float]:
        """The tokens (input and output) and the cost reported so far, over every attempt."""
        tokens = sum(u.input_tokens + u.output_tokens for u in self.usage)
        return tokens, sum(u.cost for u in self.usage)

    def time_left(self) -> float:
        """Return the seconds left before the deadline, 0.0 once it has passed."""
        return max(0.0, self.deadline - time.time())

    @property
    def job_id(self) -> str | None:
        """The job's id, None unless the request is a job."""
        return self.job.job_id if self.job is not None else None

    @property
    def attempt(self) -> int:
        """Which delivery of the job this is (1, 2, ...); 0 unless the request is a job."""
        return self.job.attempt if self.job is not None else 0

    @property
    def cancelled(self) -> bool:
        """True once the job was cancelled: a plain ``def`` handler should return soon.

        (An ``async def`` handler is cancelled outright; a thread cannot be, so it may poll
        this.) Always False for other requests.
        """
        return self.job is not None and self.job.cancelled

    async def progress(self, fraction: float, message: str | None = None) -> None:
        """Store how far the job is, ``fraction`` from 0 to 1, with an optional message.

        ``await`` it from an ``async def`` handler; it returns once the job's record has it
        (a failure to store it is logged, never raised). ``GET /jobs/{id}`` shows it.
        """
        if self.job is not None:
            await self.job.progress(fraction, message)

    def report_progress(self, fraction: float, message: str | None = None) -> None:
        """Like :meth:`progress`, without waiting: for plain ``def`` handlers (any thread).

        Reports are handed to the event loop and written in order; when they come faster
        than the record can be written, only the latest is kept. In a process pool they are
        dropped: the job's record lives in the worker's parent process.
        """
        if self.job is not None:
            self.job.report(fraction, message)

    def __getstate__(self) -> dict[str, Any]:
        # A process pool pickles the context; the job's control stays in this process.
        job = self.job
        detached = _DetachedJob(job.job_id, job.attempt) if job is not None else None
        return {**self.__dict__, "job": detached}


@dataclass(frozen=True)
class _DetachedJob:
    """A job as a handler in a process pool sees it: its id and attempt, no reports."""

    job_id: str
    attempt: int
    cancelled: bool = False

    async def progress(self, fraction: float, message: str | None = None) -> None:
        pass

    def report(self, fraction: float, message: str | None = None) -> None:
        pass
