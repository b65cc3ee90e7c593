"""Helpers for tests that play the gateway's part on NATS."""

import json
import time
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg

from notebridge_worker.protocol import HEADER_SERVICE_ERROR, HEADER_SERVICE_ERROR_CODE


async def call(
    client: Client,
    subject: str,
    body: dict[str, Any] | bytes,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Msg:
    """Send one request the way the gateway does and return the reply."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.request(subject, data, timeout=timeout, headers=headers)


def error_of(reply: Msg) -> tuple[str, str] | None:
    """(code, message) of an error reply, None for a success."""
    headers = reply.headers or {}
    if HEADER_SERVICE_ERROR_CODE not in headers:
        return None
    return headers[HEADER_SERVICE_ERROR_CODE], headers[HEADER_SERVICE_ERROR]


def deadline_in(seconds: float) -> str:
    """An Nb-Deadline header value ``seconds`` from now (negative: already past)."""
    return str(int((time.time() + seconds) * 1000))
