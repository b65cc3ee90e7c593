"""Names of the notebridge wire protocol (docs/protocol.md), shared with the Go gateway.

The gateway's ``gateway/wire`` package holds the same names; both sides are tested against
docs/protocol.md, so a rename here without one there is a protocol change.
"""

import re

QUEUE_GROUP = "nb"

WORKER_INBOX_PREFIX = "_INBOX_nbw"
"""Prefix of a worker's inboxes: the gateway's are NATS's default, ``_INBOX``, so a locked-down
bus lets a worker read its own replies and not the gateway's (docs/operations.md)."""
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

# Reply headers of a contract with repair, and of any reply whose handler reported usage.
HEADER_ATTEMPTS = "Nb-Attempts"
"""How many times the handler was called for the request (decimal)."""
HEADER_USAGE = "Nb-Usage"
"""Every attempt's usage reports, a JSON array of {attempt, model, input_tokens,
output_tokens, cost}, members that are 0 or empty left out."""

# Reserved error codes; any other code comes from a handler's ServiceError.
INVALID_REQUEST = "invalid_request"
INVALID_REPLY = "invalid_reply"
DRIFT = "drift"
UNKNOWN_CONTRACT = "unknown_contract"
BUSY = "busy"
DEADLINE_EXCEEDED = "deadline_exceeded"
INTERNAL = "internal"

# Stream mode (docs/protocol.md, "Stream mode"): headers of the messages a worker publishes
# to the request's reply subject, and the kinds of message.
HEADER_STREAM = "Nb-Stream"
"""One of the STREAM_* kinds."""
HEADER_SEQ = "Nb-Seq"
"""The number of a chunk, from 1; on the end, how many chunks were sent."""
HEADER_CANCEL = "Nb-Cancel"
"""Where the gateway publishes to stop the handler (the client left, or the deadline passed)."""
STREAM_CHUNK = "chunk"
STREAM_HEARTBEAT = "heartbeat"
STREAM_END = "end"
STREAM_ERROR = "error"

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


def heartbeat_interval(idle_timeout_seconds: float) -> float:
    """How long a stream may stay silent before the worker sends a heartbeat, in seconds.

    A third of the contract's idle timeout, so that two heartbeats can be late before the
    gateway presumes the worker dead (the gateway's ``wire.HeartbeatInterval``).
    """
    return idle_timeout_seconds / 3


# Job mode (docs/protocol.md, "Job mode"); the gateway's gateway/wire/jobs.go has the same.
JOB_METADATA_PREFIX = "job:"
"""Starts the service metadata keys announcing the job contracts a worker pulls:
``job:<name>/v<N>``, the value the contract digest: the gateway counts job workers by these
(a job contract's endpoint only reports status)."""
JOB_STREAM = "NB_JOBS"
"""The JetStream work-queue stream of job messages; gateways create it."""
JOB_BUCKET = "nb_jobs"
"""The key-value bucket of job records (``job.<id>``); gateways create it."""
JOB_KEY_PREFIX = "job."
HEADER_JOB_ID = "Nb-Job-Id"
"""The job id, on every job message."""
JOB_QUEUED = "queued"
JOB_RUNNING = "running"
JOB_SUCCEEDED = "succeeded"
JOB_FAILED = "failed"
JOB_CANCELLED = "cancelled"
JOB_FINAL = frozenset({JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED})
"""Statuses nobody changes again."""


def job_subject(name: str, version: int) -> str:
    """Return the subject jobs of a contract version are published on, ``nb.jobs.<name>.v<N>``."""
    return f"nb.jobs.{name}.v{version}"


JOB_ENDPOINT_SUFFIX = "-jobs"
"""Ends the micro endpoint name of a job contract's status endpoint, ``<name>-v<N>-jobs``."""


def job_status_subject(name: str, version: int) -> str:
    """Return where a worker answers how a job contract's jobs fare, ``nb.pulls.<name>.v<N>``.

    Not ``nb.jobs.>``, which the job stream captures.
    """
    return f"nb.pulls.{name}.v{version}"


def job_consumer(name: str, version: int) -> str:
    """Return the durable consumer the workers of a job contract share, ``nb-jobs-<name>-v<N>``."""
    return f"nb-jobs-{name}-v{version}"


def job_cancel_subject(job_id: str) -> str:
    """Return where the gateway publishes when a job is cancelled, ``nb.cancel.job.<id>``."""
    return f"nb.cancel.job.{job_id}"
