"""Validate-and-repair: a reply's code-level checks, what a repair attempt knows, and usage.

A contract whose manifest declares ``repair`` gets more than one attempt: when the handler's
reply breaks the response schema or one of the checks registered with ``@worker.check``, the
handler is called again, and its RequestContext's :attr:`~RequestContext.repair` holds the
previous output and the exact violations, so an LLM prompt can include them. The pipeline
(_pipeline.py) runs the attempts and stops on the contract's ``max_attempts``, the request's
deadline, its token or cost budget, or no progress (the same violations twice in a row).

Handlers report what each attempt consumed with :meth:`RequestContext.report_usage`; the
worker sends every attempt's usage to the gateway in the reply's ``Nb-Usage`` header, and the
number of attempts in ``Nb-Attempts`` (docs/protocol.md).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from notebridge_worker.contracts import Violation, explain

CheckResult = Iterable["str | tuple[str, str]"]
"""What a check returns: each violation as a message (about the whole reply) or as a pair
``(JSON pointer, message)``; nothing, or an empty iterable, when the reply passes."""


@dataclass(frozen=True)
class ReplyCheck:
    """A code-level check of a contract's replies, registered with ``@worker.check``."""

    name: str
    """The violations' ``keyword``: what a client and a repair prompt see as the rule broken."""
    function: Callable[..., CheckResult | None]
    takes_request: bool

    def run(self, reply: Any, request: Any) -> list[Violation]:
        """The violations ``function`` finds in ``reply`` (JSON values); raises what it raises."""
        found = self.function(reply, request) if self.takes_request else self.function(reply)
        out = []
        for item in found or ():
            pointer, message = ("", item) if isinstance(item, str) else item
            if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
                raise TypeError(
                    f"check {self.name} returned {item!r}: a violation is a message or a pair "
                    "(JSON pointer such as '/edges/2', message)"
                )
            out.append(Violation(instancePath=pointer, keyword=self.name, message=str(message)))
        return out


def build_check(function: Callable[..., Any], name: str | None) -> ReplyCheck:
    """Check a check's shape once, at registration: ``f(reply)`` or ``f(reply, request)``."""
    label = getattr(function, "__qualname__", repr(function))
    if inspect.iscoroutinefunction(function):
        raise TypeError(f"check {label} is async: a check is plain code that returns violations")
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if not 1 <= len(positional) <= 2:
        raise TypeError(f"check {label} must take the reply, and optionally the request")
    return ReplyCheck(
        name=name or str(getattr(function, "__name__", "check")),
        function=function,
        takes_request=len(positional) == 2,
    )


@dataclass(frozen=True)
class Repair:
    """What a repair attempt knows: ``context.repair`` on the second attempt and after."""

    attempt: int
    """This attempt's number: 2, 3, ... up to ``max_attempts``."""
    max_attempts: int
    previous_output: Any
    """The previous attempt's reply, as JSON values (what the handler returned)."""
    violations: list[Violation]
    """Every way the previous reply broke the response schema or a check."""

    def feedback(self) -> str:
        """The violations as lines for a prompt: ``- label: ... at /label (check_name)``."""
        return "\n".join(
            f"- {explain(violation, 'reply')} ({violation['keyword']})"
            for violation in self.violations
        )


@dataclass(frozen=True)
class Usage:
    """What one attempt consumed, as the handler reported it."""

    attempt: int
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value or key == "attempt"}


def checked_usage(
    model: str | None, input_tokens: int, output_tokens: int, cost: float
) -> tuple[str, int, int, float]:
    """A usage report's fields, or ValueError saying which one is wrong."""
    for label, tokens in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
            raise ValueError(f"{label} must be an int >= 0, not {tokens!r}")
    if isinstance(cost, bool) or not isinstance(cost, int | float) or not math.isfinite(cost):
        raise ValueError(f"cost must be a finite number >= 0, not {cost!r}")
    if cost < 0:
        raise ValueError(f"cost must be a finite number >= 0, not {cost!r}")
    if model is not None and not isinstance(model, str):
        raise ValueError(f"model must be a string, not {model!r}")
    return model or "", input_tokens, output_tokens, float(cost)
