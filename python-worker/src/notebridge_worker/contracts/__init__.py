"""Contracts: manifests, their compiled schemas, their digest and the violations they find.

A contract is one ``*.json`` manifest in a contracts directory (see contracts/summarize.v1.json)
pointing at a request and a response JSON Schema, and for a ``stream`` contract at a chunk
schema (see contracts/generate.v1.json). Loading checks everything that could
otherwise fail while serving: the manifest's fields, every schema against its meta-schema,
every ``pattern`` against RE2 (the Go gateway's regexp engine), every ``$ref``, and every
example. The dialect is the one docs/protocol.md fixes for both sides: draft 2020-12 unless
``$schema`` says otherwise, ``format`` annotates only, numbers are exact.
"""

from notebridge_worker.contracts.load import load_contract, load_contracts
from notebridge_worker.contracts.model import (
    DEFAULT_ACK_WAIT_SECONDS,
    DEFAULT_IDLE_TIMEOUT_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    JOB,
    STREAM,
    SUPPORTED_MODES,
    SYNC,
    Contract,
    ContractError,
    Example,
    Merge,
    RepairPolicy,
)
from notebridge_worker.contracts.schemafiles import SchemaFiles, contract_digest
from notebridge_worker.contracts.violations import Violation, explain, violations

__all__ = [
    "DEFAULT_ACK_WAIT_SECONDS",
    "DEFAULT_IDLE_TIMEOUT_SECONDS",
    "DEFAULT_MAX_ATTEMPTS",
    "JOB",
    "STREAM",
    "SUPPORTED_MODES",
    "SYNC",
    "Contract",
    "ContractError",
    "Example",
    "Merge",
    "RepairPolicy",
    "SchemaFiles",
    "Violation",
    "contract_digest",
    "explain",
    "load_contract",
    "load_contracts",
    "violations",
]
