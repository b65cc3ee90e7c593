"""The worker's side of NATS: error replies, and leaving the server without losing requests."""

import asyncio
import logging
from collections.abc import Awaitable

import nats.errors
from nats.aio.client import Client
from nats.micro.request import Request
from nats.micro.service import Service

from notebridge_worker._streams import NatsStream
from notebridge_worker.protocol import STREAM_ERROR

logger = logging.getLogger("notebridge_worker")

MAX_ERROR_MESSAGE = 1000
"""Characters of an error message that fit in the reply's Nats-Service-Error header."""
LEAVE_TIMEOUT_SECONDS = 2.0
"""How long each step of leaving NATS (unsubscribing, draining) waits for the server."""


def one_line(message: str) -> str:
    """``message`` as one line of at most MAX_ERROR_MESSAGE characters: what an error header,
    or a job record's error, holds (the body of an error reply keeps every violation)."""
    line = " ".join(message.splitlines())
    return line if len(line) <= MAX_ERROR_MESSAGE else line[: MAX_ERROR_MESSAGE - 1] + "…"


async def respond_error(
    request: Request,
    code: str,
    message: str,
    body: bytes = b"",
    stream: NatsStream | None = None,
    extra_headers: dict[str, str] | None = None,
) -> None:
    """Send an error reply; once a stream has sent a chunk, as its last message.

    ``extra_headers`` go with it: a request's attempts and usage (Nb-Attempts, Nb-Usage).
    """
    # Before the first chunk, an ordinary error reply: the gateway answers the client a
    # problem+json with the right status rather than an event stream that fails.
    headers = stream.headers(STREAM_ERROR) if stream is not None and stream.started else None
    if extra_headers:
        headers = {**(headers or {}), **extra_headers}
    try:
        await request.respond_error(code, one_line(message), data=body, headers=headers)
    except Exception:
        logger.exception("could not send the %s error reply", code)


async def stop_taking_requests(service: Service, nc: Client) -> None:
    """Stop the micro service without losing requests NATS has already delivered.

    ``Service.stop()`` unsubscribes its endpoints, which throws away requests that reached
    this process but were not read yet; draining each endpoint's subscription first hands
    them to the callback. nats-py's micro module has no public way to drain an endpoint, so
    this is the one place that reads its internals (``Service._endpoints``,
    ``Endpoint._subscription``); should a nats-py release change them, the worker still
    stops, with a warning that requests already delivered may get no reply.
    Returns once the server has the unsubscriptions: no request reaches this worker after.
    """
    endpoints = getattr(service, "_endpoints", None)
    subscriptions = [getattr(endpoint, "_subscription", None) for endpoint in endpoints or []]
    if endpoints is None or None in subscriptions:
        logger.warning(
            "this nats-py's micro service has no endpoint subscriptions to drain; requests "
            "delivered but not yet read are dropped (their callers time out)"
        )
    else:
        for subscription in subscriptions:
            await subscription.drain()
        endpoints.clear()
    await service.stop()
    await sync_with_server(nc)


async def within_leave_timeout(step: Awaitable[None], what: str) -> None:
    """Run a step of leaving NATS, but give up after LEAVE_TIMEOUT_SECONDS.

    When a whole stack stops, the server may go away, or stop answering, while the worker
    leaves it; the worker must still finish and exit, not wait for an answer forever.
    """
    try:
        await asyncio.wait_for(step, LEAVE_TIMEOUT_SECONDS)
    except (nats.errors.Error, asyncio.TimeoutError, OSError) as error:
        logger.warning("%s: NATS did not answer (%s)", what, str(error) or type(error).__name__)


async def sync_with_server(nc: Client) -> None:
    """Return once the server has everything sent so far on ``nc`` (SUBs, UNSUBs, replies).

    nats-py's flush() writes its PING straight to the socket while SUBs wait in a buffer for
    its flusher task, so the first PONG can come back before the server has seen them. The
    flusher runs while that first round trip is under way; the second one follows the SUBs.
    """
    await nc.flush()
    await nc.flush()


def server_url(nc: Client) -> str:
    """The URL of the server ``nc`` is connected to, without credentials."""
    url = nc.connected_url
    return f"{url.scheme}://{url.hostname}:{url.port}" if url else "(not connected)"
