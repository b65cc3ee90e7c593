"""The rules of a contract manifest's fields (docs/contracts.md), checked at load."""

from __future__ import annotations

import re
from typing import Any

from notebridge_worker.contracts.compose import compose_problems, parse_pointer
from notebridge_worker.contracts.model import (
    JOB,
    MAX_ACK_WAIT_SECONDS,
    MAX_ATTEMPTS_BOUND,
    MAX_JOB_TIMEOUT_SECONDS,
    MAX_TIMEOUT_SECONDS,
    STREAM,
    SUPPORTED_MODES,
    SYNC,
    is_integer,
    is_number,
)

MANIFEST_FIELDS = frozenset(
    {
        "$schema",  # protocol/manifest.schema.json, for editors; unused
        "name",
        "version",
        "description",
        "mode",
        "timeout_seconds",
        "deprecated",
        "request_schema",
        "response_schema",
        "examples",
        # Stream mode only.
        "chunk_schema",
        "merge",
        "idle_timeout_seconds",
        # Job mode only.
        "max_attempts",
        "ack_wait_seconds",
        # Sync and job modes: validate-and-repair.
        "repair",
        # Every mode: the request member that names the tenant (a tenant-scoped contract).
        "tenant",
        # Sync mode only: a deterministic contract's replies are cached.
        "cache",
        # Sync and job modes: composed at the gateway from other contracts (compose.py).
        "compose",
    }
)

REPAIR_FIELDS = frozenset({"max_attempts", "max_tokens", "max_cost", "stream"})
STREAM_REPAIR_MODES = ("buffer", "verdict")
CACHE_FIELDS = frozenset({"ttl_seconds"})
MIN_REPAIR_ATTEMPTS, MAX_REPAIR_ATTEMPTS = 2, 10
MAX_CACHE_TTL_SECONDS = 86400


EXAMPLE_FIELDS = frozenset({"name", "request", "response"})


NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
"""A contract name is one NATS subject token and one URL path segment."""


def manifest_problems(manifest: Any) -> list[str]:
    """Check a manifest's fields the way the Go gateway does, so both load the same set."""
    if not isinstance(manifest, dict):
        return ["a contract manifest is a JSON object"]
    problems = [f"/{key}: unknown field" for key in sorted(set(manifest) - MANIFEST_FIELDS)]
    name = manifest.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        problems.append(f"/name: {name!r} must match {NAME_PATTERN.pattern}")
    version = manifest.get("version")
    if not is_integer(version) or version < 1:
        problems.append(f"/version: {version!r} must be an integer >= 1")
    if not isinstance(manifest.get("description", ""), str):
        problems.append("/description: must be a string")
    mode = manifest.get("mode")
    timeout = manifest.get("timeout_seconds")
    problems.extend(_mode_problems(manifest, mode, timeout if is_number(timeout) else 0))
    limit = MAX_JOB_TIMEOUT_SECONDS if mode == JOB else MAX_TIMEOUT_SECONDS
    valid_timeout = is_number(timeout) and 0 < timeout <= limit
    if not valid_timeout:
        problems.append(f"/timeout_seconds: {timeout!r} must be > 0 and <= {limit}")
    if not isinstance(manifest.get("deprecated", False), bool):
        problems.append("/deprecated: must be true or false")
    # A stream without merge has no single reply to describe.
    needs_response = mode != STREAM or manifest.get("merge") is not None
    for key in ("request_schema", "response_schema"):
        value = manifest.get(key)
        given = isinstance(value, str) and value
        if (value is not None and not isinstance(value, str)) or (
            not given and (key == "request_schema" or needs_response)
        ):
            problems.append(f"/{key}: must be a path relative to the manifest")
    problems.extend(_repair_problems(manifest, mode))
    problems.extend(compose_problems(manifest, mode, timeout if valid_timeout else None))
    problems.extend(_tenant_problems(manifest.get("tenant")))
    examples = manifest.get("examples")
    if not isinstance(examples, list) or not examples:
        problems.append("/examples: a contract needs at least one example")
        return problems
    for index, example in enumerate(examples):
        if not isinstance(example, dict):
            problems.append(f"/examples/{index}: must be an object")
            continue
        problems.extend(
            f"/examples/{index}/{key}: unknown field"
            for key in sorted(set(example) - EXAMPLE_FIELDS)
        )
        if not isinstance(example.get("name"), str):
            problems.append(f"/examples/{index}/name: must be a string")
        if "request" not in example:
            problems.append(f"/examples/{index}: missing request")
    return problems


def _tenant_problems(tenant: Any) -> list[str]:
    """The tenant member, as the Go gateway's tenantProblems: a pointer into the request that
    names one member (``null`` is not given)."""
    if tenant is None:
        return []
    if not isinstance(tenant, str):
        return ["/tenant: must be a JSON pointer (a string)"]
    try:
        tokens = parse_pointer(tenant)
    except ValueError as error:
        return [f"/tenant: {error}"]
    if not tokens:
        return ["/tenant: must point at a member of the request, not the whole request"]
    return []


def _mode_problems(manifest: dict[str, Any], mode: Any, timeout: Any) -> list[str]:
    """The rules of each mode and of its own fields, as the Go gateway's manifest.problems.

    Like Go, an absent field, ``null``, ``""`` and ``0`` are all "not given".
    """
    problems = []
    chunk_schema, merge = manifest.get("chunk_schema"), manifest.get("merge")
    idle_timeout = manifest.get("idle_timeout_seconds")
    max_attempts, ack_wait = manifest.get("max_attempts"), manifest.get("ack_wait_seconds")
    if chunk_schema is not None and not isinstance(chunk_schema, str):
        problems.append("/chunk_schema: must be a path relative to the manifest")
    if idle_timeout is not None and not is_number(idle_timeout):
        problems.append("/idle_timeout_seconds: must be a number")
        idle_timeout = None
    if merge is not None and not (
        isinstance(merge, dict)
        and all(isinstance(merge.get(key), str | None) for key in ("concat", "collect"))
    ):
        problems.append('/merge: must be an object: {"concat": field} or {"collect": field}')
        merge = None
    if max_attempts is not None and not is_integer(max_attempts):
        problems.append("/max_attempts: must be an integer")
        max_attempts = None
    if ack_wait is not None and not is_number(ack_wait):
        problems.append("/ack_wait_seconds: must be a number")
        ack_wait = None

    stream_only = bool(chunk_schema) or merge is not None or bool(idle_timeout)
    job_only = max_attempts is not None or ack_wait is not None
    if stream_only and mode in (SYNC, JOB):
        problems.append(
            f"/mode: chunk_schema, merge and idle_timeout_seconds are for mode {STREAM!r} only"
        )
    if job_only and mode in (SYNC, STREAM):
        problems.append(f"/mode: max_attempts and ack_wait_seconds are for mode {JOB!r} only")
    if mode == JOB:
        if max_attempts is not None and not 1 <= max_attempts <= MAX_ATTEMPTS_BOUND:
            problems.append(f"/max_attempts: {max_attempts} must be >= 1 and <= 100")
        if ack_wait is not None and not 0 < ack_wait <= MAX_ACK_WAIT_SECONDS:
            problems.append(
                f"/ack_wait_seconds: {ack_wait} must be > 0 and <= {MAX_ACK_WAIT_SECONDS}"
            )
    elif mode == STREAM:
        if not chunk_schema:
            problems.append("/chunk_schema: missing: a stream contract needs a chunk schema")
        if idle_timeout is not None and (idle_timeout < 0 or idle_timeout > timeout):
            problems.append(
                f"/idle_timeout_seconds: {idle_timeout} must be > 0 and <= timeout_seconds"
            )
        if merge is not None and bool(merge.get("concat")) == bool(merge.get("collect")):
            problems.append("/merge: set exactly one of concat and collect")
    elif mode != SYNC:
        supported = ", ".join(sorted(SUPPORTED_MODES))
        problems.append(f"/mode: {mode!r} is not supported; use {supported}")
    return problems


def _repair_problems(manifest: dict[str, Any], mode: Any) -> list[str]:
    """The rules of the ``repair`` and ``cache`` members, as the Go gateway's repairProblems."""
    problems = []
    if "repair" in manifest:
        repair = manifest["repair"]
        if not isinstance(repair, dict):
            problems.append("/repair: must be an object")
        else:
            problems.extend(
                f"/repair/{key}: unknown field" for key in sorted(set(repair) - REPAIR_FIELDS)
            )
            problems.extend(_repair_mode_problems(repair, mode))
    if "cache" in manifest:
        cache = manifest["cache"]
        if not isinstance(cache, dict):
            problems.append("/cache: must be an object")
        else:
            problems.extend(
                f"/cache/{key}: unknown field" for key in sorted(set(cache) - CACHE_FIELDS)
            )
            if mode != SYNC:
                problems.append(f"/cache: cache is for mode {SYNC!r} only")
            ttl = cache.get("ttl_seconds")
            if not is_number(ttl) or not 0 < ttl <= MAX_CACHE_TTL_SECONDS:
                problems.append(
                    f"/cache/ttl_seconds: {ttl!r} must be > 0 and <= {MAX_CACHE_TTL_SECONDS}"
                )
    return problems


def _repair_mode_problems(repair: dict[str, Any], mode: Any) -> list[str]:
    """How ``repair`` breaks the rules of its mode, as the Go gateway's repairProblems.

    Like Go, a member that is 0, "" or absent is "not given".
    """
    problems = []
    stream = repair.get("stream") or ""
    if mode == STREAM and stream not in STREAM_REPAIR_MODES:
        problems.append(
            f"/repair/stream: {stream!r}: a stream contract's repair says how its chunks are "
            "checked: 'buffer' (held until they pass, repaired) or 'verdict' (sent as they "
            "come, judged at the end)"
        )
    elif mode != STREAM and stream:
        problems.append("/repair/stream: is for stream contracts only")
    if stream == "verdict":
        if any(repair.get(key) for key in ("max_attempts", "max_tokens", "max_cost")):
            problems.append(
                "/repair: a verdict stream is not repaired: max_attempts, max_tokens and "
                "max_cost are for the other modes"
            )
        return problems
    attempts = repair.get("max_attempts")
    if not is_integer(attempts) or not MIN_REPAIR_ATTEMPTS <= attempts <= MAX_REPAIR_ATTEMPTS:
        problems.append(
            f"/repair/max_attempts: {attempts!r} must be an integer >= "
            f"{MIN_REPAIR_ATTEMPTS} and <= {MAX_REPAIR_ATTEMPTS}"
        )
    tokens = repair.get("max_tokens", 0)
    if not is_integer(tokens) or tokens < 0:
        problems.append(f"/repair/max_tokens: {tokens!r} must be an integer >= 0")
    cost = repair.get("max_cost", 0)
    if not is_number(cost) or cost < 0:
        problems.append(f"/repair/max_cost: {cost!r} must be a number >= 0 (0: no bound)")
    return problems
