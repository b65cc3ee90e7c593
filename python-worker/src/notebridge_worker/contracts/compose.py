"""The rules of a manifest's ``compose`` member (docs/contracts.md, "Composed contracts").

A composed contract is served by the gateway, which runs its steps in order, calling other
contracts; a worker loads it only to refuse to serve it. These are the rules one manifest is
held to, as the Go gateway's compose.go checks them, each problem at its own pointer. That
every ``call`` names a loaded sync contract that is not composed is the gateway's check alone:
it needs the other contracts.
"""

from __future__ import annotations

import re
from typing import Any

from notebridge_worker.contracts.model import JOB, SYNC, is_integer, is_number

MAX_STEPS = 16
MIN_BRANCHES, MAX_BRANCHES = 2, 16
MAX_ATTEMPTS = 5
MAX_ITEMS_BOUND = 1000
MAX_CONCURRENCY = 64

# A map step has a call too: parallel and map say what a step is, call alone a call step.
STEP_KINDS = ("call", "parallel", "map")
CALL_FIELDS = frozenset({"name", "call", "request", "into", "timeout_seconds", "attempts"})
BRANCH_FIELDS = CALL_FIELDS
PARALLEL_FIELDS = frozenset({"name", "parallel", "require"})
MAP_FIELDS = CALL_FIELDS | {"map", "require", "max_items", "concurrency"}

STEP_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}")
# At most nine digits, as the gateway's: a version or quorum it can hold in an int.
CALL_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,63}/v[1-9][0-9]{0,8}")
QUORUM_PATTERN = re.compile(r"quorum\(([1-9][0-9]{0,8})\)")
BAD_ESCAPE = re.compile(r"~(?![01])")


def compose_problems(manifest: dict[str, Any], mode: Any, timeout: Any) -> list[str]:
    """How the ``compose`` member breaks the rules, as the gateway's decodeCompose and
    composeProblems; ``timeout`` is the contract's timeout_seconds, None when it is invalid
    (then no branch is held to it)."""
    if "compose" not in manifest:
        return []
    compose = manifest["compose"]
    if not isinstance(compose, dict):
        return ["/compose: must be an object"]
    problems = []
    if mode not in (SYNC, JOB):
        problems.append(
            f"/compose: a {mode!r} contract cannot be composed; use mode {SYNC!r} or {JOB!r}"
        )
    if "repair" in manifest:
        problems.append(
            "/repair: a composed contract has no worker to repair its reply; declare repair "
            "on the contracts it calls"
        )
    if "cache" in manifest:
        problems.append(
            "/cache: a composed contract's reply is not cached; declare cache on the "
            "contracts it calls"
        )
    checker = _Checker(timeout)
    checker.compose(compose)
    return problems + checker.problems


def parse_pointer(text: str) -> list[str]:
    """The reference tokens of an RFC 6901 JSON pointer ("" is the whole document).

    Raises ValueError when it does not start with ``/`` or has a ``~`` not followed by 0 or 1.
    """
    if text == "":
        return []
    if not text.startswith("/"):
        raise ValueError(f"{text!r} does not start with /")
    if BAD_ESCAPE.search(text):
        raise ValueError(f"{text!r}: ~ must be followed by 0 or 1")
    return [token.replace("~1", "/").replace("~0", "~") for token in text[1:].split("/")]


def escape(token: str) -> str:
    """``token`` as one reference token of a JSON pointer."""
    return token.replace("~", "~0").replace("/", "~1")


class _Checker:
    """Reads a compose member once, step by step, keeping what later steps are held to."""

    def __init__(self, timeout: Any) -> None:
        self.timeout = timeout
        self.problems: list[str] = []
        self.declared: set[str] = set()
        """The names of the steps read so far, which later pointers may reach."""
        self.intos: list[tuple[list[str], str, str]] = []
        """Each valid ``into`` so far: its tokens, as written, and where it is."""

    def add(self, at: str, message: str) -> None:
        self.problems.append(f"{at}: {message}")

    def unknown(self, at: str, members: dict[str, Any], allowed: frozenset[str]) -> None:
        for key in sorted(set(members) - allowed):
            self.add(f"{at}/{escape(key)}", "unknown field")

    def compose(self, compose: dict[str, Any]) -> None:
        self.unknown("/compose", compose, frozenset({"steps"}))
        if "steps" not in compose:
            self.add("/compose/steps", "missing: a composition has at least one step")
            return
        steps = compose["steps"]
        if not isinstance(steps, list):
            self.add("/compose/steps", "must be an array of steps")
            return
        if not 1 <= len(steps) <= MAX_STEPS:
            self.add(
                "/compose/steps", f"has {len(steps)} steps; a composition has 1 to {MAX_STEPS}"
            )
        for index, step in enumerate(steps):
            self.step(f"/compose/steps/{index}", step)

    def step(self, at: str, step: Any) -> None:
        if not isinstance(step, dict):
            self.add(at, "a step must be an object")
            return
        earlier = frozenset(self.declared)
        name = self.name(at, step, earlier, "an earlier step")
        # Declared even when the step has other problems, so they are not reported twice.
        if name is not None:
            self.declared.add(name)
        kinds = [kind for kind in STEP_KINDS if kind in step]
        if kinds == ["call", "map"]:
            kinds = ["map"]
        if len(kinds) != 1:
            self.add(at, f"a step has exactly one of call, parallel and map (it has {len(kinds)})")
            return
        if kinds == ["call"]:
            self.unknown(at, step, CALL_FIELDS)
            self.call(at, step, earlier, item=False)
        elif kinds == ["parallel"]:
            self.unknown(at, step, PARALLEL_FIELDS)
            self.parallel(at, step, earlier)
        else:
            self.unknown(at, step, MAP_FIELDS)
            self.map(at, step, earlier)

    def name(self, at: str, members: dict[str, Any], taken: frozenset[str], of: str) -> Any:
        """Check a step's or branch's name; return it if it is a string, else None."""
        if "name" not in members:
            self.add(f"{at}/name", "missing")
            return None
        name = members["name"]
        if not isinstance(name, str):
            self.add(f"{at}/name", "must be a string")
            return None
        if not STEP_NAME_PATTERN.fullmatch(name):
            self.add(f"{at}/name", f"{name!r} must match ^{STEP_NAME_PATTERN.pattern}$")
        elif name in taken:
            self.add(f"{at}/name", f"{name!r} names {of} too")
        return name

    def parallel(self, at: str, step: dict[str, Any], earlier: frozenset[str]) -> None:
        branches = step["parallel"]
        if not isinstance(branches, list):
            self.add(f"{at}/parallel", "must be an array of branches")
            branches = []
        elif not MIN_BRANCHES <= len(branches) <= MAX_BRANCHES:
            self.add(
                f"{at}/parallel",
                f"has {len(branches)} branches; a parallel step has {MIN_BRANCHES} to "
                f"{MAX_BRANCHES}",
            )
        names: set[str] = set()
        for index, branch in enumerate(branches):
            branch_at = f"{at}/parallel/{index}"
            if not isinstance(branch, dict):
                self.add(branch_at, "must be an object")
                continue
            self.unknown(branch_at, branch, BRANCH_FIELDS)
            name = self.name(branch_at, branch, frozenset(names), "an earlier branch of the step")
            if name is not None:
                names.add(name)
            self.call(branch_at, branch, earlier, item=False)
        self.require(at, step, len(branches))

    def map(self, at: str, step: dict[str, Any], earlier: frozenset[str]) -> None:
        source = step["map"]
        if not isinstance(source, str):
            self.add(f"{at}/map", "must be a pointer (a string) to an array")
        else:
            self.pointer(f"{at}/map", source, earlier, item=False)
        self.call(at, step, earlier, item=True)
        self.require(at, step, 0)
        for key, bound in (("max_items", MAX_ITEMS_BOUND), ("concurrency", MAX_CONCURRENCY)):
            if key in step:
                self.integer(f"{at}/{key}", step[key], bound)

    def call(self, at: str, members: dict[str, Any], earlier: frozenset[str], item: bool) -> None:
        """Check the members of one call: a call step, a parallel step's branch, a map step."""
        if "call" not in members:
            self.add(f"{at}/call", "missing: the contract to call, as name/vN")
        elif not isinstance(members["call"], str):
            self.add(f"{at}/call", "must be a string: the contract to call, as name/vN")
        elif not CALL_PATTERN.fullmatch(members["call"]):
            self.add(
                f"{at}/call",
                f"{members['call']!r} must name a contract and its major version, as summarize/v1",
            )
        if "request" in members:
            self.request(f"{at}/request", members["request"], earlier, item)
        if "into" in members:
            self.into(f"{at}/into", members["into"])
        if "timeout_seconds" in members:
            timeout = members["timeout_seconds"]
            if not is_number(timeout):
                self.add(f"{at}/timeout_seconds", "must be a number")
            elif timeout <= 0:
                self.add(f"{at}/timeout_seconds", f"{timeout} must be > 0")
            elif self.timeout is not None and timeout > self.timeout:
                self.add(
                    f"{at}/timeout_seconds",
                    f"{timeout} must be <= the contract's timeout_seconds ({self.timeout})",
                )
        if "attempts" in members:
            self.integer(f"{at}/attempts", members["attempts"], MAX_ATTEMPTS)

    def request(self, at: str, request: Any, earlier: frozenset[str], item: bool) -> None:
        if isinstance(request, str):
            self.pointer(at, request, earlier, item)
        elif isinstance(request, dict):
            for key in sorted(request):
                if isinstance(request[key], str):
                    self.pointer(f"{at}/{escape(key)}", request[key], earlier, item)
                else:
                    self.add(f"{at}/{escape(key)}", "must be a pointer (a string)")
        else:
            self.add(at, "must be a pointer, or an object of pointers")

    def pointer(self, at: str, text: str, earlier: frozenset[str], item: bool) -> None:
        """Check a pointer into the scope: the request, an earlier step's result, or, in a
        map step's request, its item."""
        try:
            tokens = parse_pointer(text)
        except ValueError as error:
            self.add(at, str(error))
            return
        head = tokens[0] if tokens else None
        if head == "request" or (head == "item" and item):
            return
        if head == "steps" and len(tokens) > 1:
            if tokens[1] not in earlier:
                self.add(at, f"{text!r}: no earlier step is named {tokens[1]!r}")
            return
        reach = "/request or /steps/<an earlier step>" + (" or /item" if item else "")
        self.add(at, f"{text!r} must start with {reach}")

    def into(self, at: str, into: Any) -> None:
        if not isinstance(into, str):
            self.add(at, "must be a pointer (a string) into the result")
            return
        try:
            tokens = parse_pointer(into)
        except ValueError as error:
            self.add(at, str(error))
            return
        if not tokens:
            self.add(at, "must point at a member of the result, not the whole result")
            return
        # Equal, or one inside the other: /a and /a/b clash, /a and /ab do not.
        for other, written, where in self.intos:
            shorter = min(len(tokens), len(other))
            if tokens[:shorter] == other[:shorter]:
                self.add(at, f"{into!r} overlaps {written!r} at {where}")
                break
        self.intos.append((tokens, into, at))

    def require(self, at: str, step: dict[str, Any], branches: int) -> None:
        """Check a step's require; ``branches`` bounds a quorum (0: no bound, a map step)."""
        if "require" not in step:
            return
        require = step["require"]
        if not isinstance(require, str):
            self.add(f"{at}/require", "must be a string: all, any or quorum(N)")
            return
        if require in ("all", "any"):
            return
        quorum = QUORUM_PATTERN.fullmatch(require)
        if quorum is None:
            self.add(f"{at}/require", f"{require!r} must be all, any or quorum(N), N >= 1")
        elif branches and int(quorum[1]) > branches:
            self.add(f"{at}/require", f"{require} needs more branches than the step's {branches}")

    def integer(self, at: str, value: Any, bound: int) -> None:
        if not is_integer(value):
            self.add(at, f"{value!r} must be an integer")
        elif not 1 <= value <= bound:
            self.add(at, f"{value} must be >= 1 and <= {bound}")
