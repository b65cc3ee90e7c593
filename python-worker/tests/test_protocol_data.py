"""The SDK's protocol constants are protocol/wire.json's, as the gateway's are (gateway/wire)."""

import json

import pytest
from conftest import REPO

from notebridge_worker import protocol
from notebridge_worker.errors import ServiceError

WIRE = json.loads((REPO / "protocol" / "wire.json").read_text())


def fill(pattern: str) -> str:
    return pattern.format(name="summarize", version=3, id="J1")


@pytest.mark.parametrize(
    ("what", "got", "want"),
    [
        ("queue group", protocol.QUEUE_GROUP, WIRE["queue_group"]),
        ("worker inbox prefix", protocol.WORKER_INBOX_PREFIX, WIRE["worker_inbox_prefix"]),
        ("contract subject", protocol.subject("summarize", 3), fill(WIRE["subjects"]["contract"])),
        ("job subject", protocol.job_subject("summarize", 3), fill(WIRE["subjects"]["job"])),
        ("job cancel", protocol.job_cancel_subject("J1"), fill(WIRE["subjects"]["job_cancel"])),
        ("request id", protocol.HEADER_REQUEST_ID, WIRE["headers"]["request_id"]),
        ("deadline", protocol.HEADER_DEADLINE, WIRE["headers"]["deadline"]),
        ("contract", protocol.HEADER_CONTRACT, WIRE["headers"]["contract"]),
        ("digest", protocol.HEADER_CONTRACT_DIGEST, WIRE["headers"]["contract_digest"]),
        ("traceparent", protocol.HEADER_TRACEPARENT, WIRE["headers"]["traceparent"]),
        ("service error", protocol.HEADER_SERVICE_ERROR, WIRE["headers"]["service_error"]),
        ("error code", protocol.HEADER_SERVICE_ERROR_CODE, WIRE["headers"]["service_error_code"]),
        ("stream", protocol.HEADER_STREAM, WIRE["headers"]["stream"]),
        ("seq", protocol.HEADER_SEQ, WIRE["headers"]["seq"]),
        ("cancel", protocol.HEADER_CANCEL, WIRE["headers"]["cancel"]),
        ("job id", protocol.HEADER_JOB_ID, WIRE["headers"]["job_id"]),
        ("attempts", protocol.HEADER_ATTEMPTS, WIRE["headers"]["attempts"]),
        ("usage", protocol.HEADER_USAGE, WIRE["headers"]["usage"]),
        ("chunk", protocol.STREAM_CHUNK, WIRE["stream_kinds"]["chunk"]),
        ("heartbeat", protocol.STREAM_HEARTBEAT, WIRE["stream_kinds"]["heartbeat"]),
        ("end", protocol.STREAM_END, WIRE["stream_kinds"]["end"]),
        ("error", protocol.STREAM_ERROR, WIRE["stream_kinds"]["error"]),
        ("job stream", protocol.JOB_STREAM, WIRE["jobs"]["stream"]),
        ("job bucket", protocol.JOB_BUCKET, WIRE["jobs"]["bucket"]),
        ("job key prefix", protocol.JOB_KEY_PREFIX, WIRE["jobs"]["key_prefix"]),
        ("job consumer", protocol.job_consumer("summarize", 3), fill(WIRE["jobs"]["consumer"])),
        ("job metadata", protocol.JOB_METADATA_PREFIX, WIRE["jobs"]["metadata_prefix"]),
        ("error code pattern", protocol.ERROR_CODE_PATTERN.pattern, WIRE["error_code_pattern"]),
    ],
    ids=lambda value: value if isinstance(value, str) and " " not in value else None,
)
def test_the_sdks_constants_are_the_protocols(what: str, got: str, want: str) -> None:
    assert got == want, f"{what}: got {got!r}; protocol/wire.json says {want!r}"


def test_the_sdks_error_codes_and_job_statuses_are_the_protocols() -> None:
    codes = {
        protocol.INVALID_REQUEST,
        protocol.INVALID_REPLY,
        protocol.DRIFT,
        protocol.UNKNOWN_CONTRACT,
        protocol.BUSY,
        protocol.DEADLINE_EXCEEDED,
        protocol.INTERNAL,
    }
    assert codes <= set(WIRE["error_codes"]), codes - set(WIRE["error_codes"])
    for code in WIRE["error_codes"]:
        ServiceError(code, "every listed code is one a handler could send")
    statuses = {
        protocol.JOB_QUEUED,
        protocol.JOB_RUNNING,
        protocol.JOB_SUCCEEDED,
        protocol.JOB_FAILED,
        protocol.JOB_CANCELLED,
    }
    assert statuses == set(WIRE["jobs"]["statuses"])
    assert set(protocol.JOB_FINAL) == set(WIRE["jobs"]["final"])
