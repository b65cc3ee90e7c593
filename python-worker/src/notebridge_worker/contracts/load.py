"""Loading a contracts folder: each manifest, its schemas and its examples, checked at once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from notebridge_worker import exactjson
from notebridge_worker.contracts import fastcheck
from notebridge_worker.contracts.manifest import manifest_problems
from notebridge_worker.contracts.model import (
    DEFAULT_ACK_WAIT_SECONDS,
    DEFAULT_IDLE_TIMEOUT_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    STREAM,
    Contract,
    ContractError,
    Example,
    Merge,
    RepairPolicy,
)
from notebridge_worker.contracts.schemafiles import SchemaFiles, display, join
from notebridge_worker.contracts.violations import explain, violations


def load_contracts(contracts_dir: str | os.PathLike[str]) -> dict[str, Contract]:
    """Load every ``*.json`` manifest in ``contracts_dir``, keyed by ``<name>/v<N>``.

    Raises ContractError listing the problems of every manifest that cannot be enforced.
    """
    directory = Path(contracts_dir)
    if not directory.is_dir():
        raise ContractError(f"no contracts folder at {directory.resolve()}")
    manifests = sorted(directory.glob("*.json"))
    if not manifests:
        raise ContractError(f"{directory.resolve()}: no *.json contract manifests")
    contracts: dict[str, Contract] = {}
    problems: list[str] = []
    for manifest in manifests:
        try:
            contract = load_contract(manifest)
        except ContractError as error:
            problems.append(str(error))
            continue
        if contract.ref in contracts:
            other = contracts[contract.ref].manifest_path
            problems.append(f"{display(manifest)}: {contract.ref} is also defined by {other}")
            continue
        contracts[contract.ref] = contract
    if problems:
        raise ContractError("\n".join(problems))
    return contracts


def load_contract(manifest_path: str | os.PathLike[str]) -> Contract:
    """Load one contract manifest, compile its schemas and check its examples.

    Raises ContractError with one line per problem found.
    """
    path = Path(manifest_path)
    where = display(path)
    try:
        manifest = exactjson.parse_exact(path.read_bytes())
    except (OSError, ValueError) as error:
        raise ContractError(f"{where}: {error}") from None
    problems = [f"{where}: {problem}" for problem in manifest_problems(manifest)]
    if problems:
        raise ContractError("\n".join(problems))

    # The digest's roles, in its order (docs/protocol.md): absent schemas have no line.
    roles = {
        role: join(path.parent, manifest[f"{role}_schema"])
        for role in ("request", "response", "chunk")
        if manifest.get(f"{role}_schema")
    }
    schemas = SchemaFiles.read(list(roles.values()))
    problems = schemas.problems()
    if problems:
        raise ContractError("\n".join(problems))
    validators = {role: schemas.validator(schema_path) for role, schema_path in roles.items()}
    request_validator = validators["request"]
    response_validator = validators.get("response")
    fast_checks = {role: schemas.fast_check(path) for role, path in roles.items()}

    examples = tuple(
        Example(item["name"], item["request"], item.get("response"))
        for item in manifest["examples"]
    )
    for index, example in enumerate(examples):
        checks = [("request", example.request, request_validator)]
        # A stream example's response is the merged reply; without merge there is no schema
        # for it, and, as in Go, nothing to check it against.
        if example.response is not None and response_validator is not None:
            checks.append(("response", example.response, response_validator))
        for part, instance, validator in checks:
            problems.extend(
                f"{where}#/examples/{index}/{part} ({example.name!r}): {explain(violation, part)}"
                for violation in violations(validator, instance)
            )
    if problems:
        raise ContractError("\n".join(problems))

    merge = manifest.get("merge")
    idle_timeout = manifest.get("idle_timeout_seconds") or DEFAULT_IDLE_TIMEOUT_SECONDS
    return Contract(
        name=manifest["name"],
        version=manifest["version"],
        description=manifest.get("description", ""),
        mode=manifest["mode"],
        timeout_seconds=float(manifest["timeout_seconds"]),
        deprecated=manifest.get("deprecated", False),
        examples=examples,
        digest=schemas.digest(list(roles.items())),
        manifest_path=path,
        request_schema_path=roles["request"],
        response_schema_path=roles.get("response"),
        request_validator=request_validator,
        response_validator=response_validator,
        chunk_schema_path=roles.get("chunk"),
        chunk_validator=validators.get("chunk"),
        request_check=fast_checks["request"],
        response_check=fast_checks.get("response", fastcheck.never),
        chunk_check=fast_checks.get("chunk", fastcheck.never),
        merge=(
            Merge(concat=merge.get("concat") or None, collect=merge.get("collect") or None)
            if merge is not None
            else None
        ),
        idle_timeout_seconds=(
            float(idle_timeout) if manifest["mode"] == STREAM else DEFAULT_IDLE_TIMEOUT_SECONDS
        ),
        max_attempts=manifest.get("max_attempts") or DEFAULT_MAX_ATTEMPTS,
        repair=_repair_policy(manifest.get("repair")),
        cache_ttl_seconds=(
            float(manifest["cache"]["ttl_seconds"]) if "cache" in manifest else None
        ),
        ack_wait_seconds=float(manifest.get("ack_wait_seconds") or DEFAULT_ACK_WAIT_SECONDS),
        compose=manifest.get("compose"),
        tenant=manifest.get("tenant"),
        request_integers=schemas.integer_plan(roles["request"]),
    )


def _repair_policy(repair: dict[str, Any] | None) -> RepairPolicy | None:
    if repair is None:
        return None
    return RepairPolicy(
        max_attempts=repair.get("max_attempts") or 1,
        max_tokens=repair.get("max_tokens", 0),
        max_cost=float(repair.get("max_cost", 0)),
        stream=repair.get("stream") or "",
    )
