"""Names of the notebridge wire protocol (docs/protocol.md), shared with the Go gateway.

The gateway's ``gateway/wire`` package holds the same names; both sides are tested against
docs/protocol.md, so a rename here without one there is a protocol change.
"""

import re

QUEUE_GROUP = "nb"
"""The queue group every worker process joins, so that processes share a contract's load."""

# Request headers, set by the gateway.
HEADER_REQUEST_ID = "Nb-Request-Id"
HEADER_DEADLINE = "Nb-Deadline"
"""Absolute deadline, Unix time in milliseconds (a decimal integer)."""
HEADER_CONTRACT = "Nb-Contract"
"""``<name>/v<N>``."""
HEADER_CONTRACT_DIGEST = "Nb-Contract-Digest"
HEADER_TRACEPARENT = "traceparent"

# Reply headers of an error, as defined by NATS micro (ADR-32).
HEADER_SERVICE_ERROR = "Nats-Service-Error"
HEADER_SERVICE_ERROR_CODE = "Nats-Service-Error-Code"

# Reserved error codes; any other code comes from a handler's ServiceError.
INVALID_REQUEST = "invalid_request"
INVALID_REPLY = "invalid_reply"
DRIFT = "drift"
UNKNOWN_CONTRACT = "unknown_contract"
BUSY = "busy"
DEADLINE_EXCEEDED = "deadline_exceeded"
INTERNAL = "internal"

ERROR_CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
"""What every error code must look like, reserved or not."""


def contract_ref(name: str, version: int) -> str:
    """Return how the protocol names a contract version, ``<name>/v<N>`` (``summarize/v1``)."""
    return f"{name}/v{version}"


def subject(name: str, version: int) -> str:
    """Return the NATS subject a contract version is served on, ``nb.<name>.v<N>``."""
    return f"nb.{name}.v{version}"


def endpoint_name(name: str, version: int) -> str:
    """Return the NATS micro endpoint name of a contract version, ``<name>-v<N>``."""
    return f"{name}-v{version}"
