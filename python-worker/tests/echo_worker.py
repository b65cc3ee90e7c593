"""An echo worker for the test contract echo v1 in testdata/contracts.

It behaves as testdata/schemas/echo.request.json describes, and numbers reach it exactly,
so an echoed ``n`` keeps every digit. ``worker`` serves echo/v1 only, so that a gateway has
a contract version nobody serves (echo/v2: 503); ``build_worker(threaded_v2=True)`` also
serves echo/v2, with a plain ``def`` handler that runs in the worker's thread pool.

    notebridge-worker run python-worker/tests/echo_worker.py:worker \\
        --contracts-dir testdata/contracts
"""

import asyncio
import time
from pathlib import Path
from typing import Any

from notebridge_worker import RequestContext, ServiceError, Worker

TEST_CONTRACTS = Path(__file__).resolve().parents[2] / "testdata" / "contracts"


def build_worker(
    *,
    name: str = "echo",
    max_inflight: int = 64,
    seen: list[tuple[dict[str, Any], RequestContext]] | None = None,
    threaded_v2: bool = False,
) -> Worker:
    """An echo worker; each handler call appends (request, context) to ``seen`` if given."""
    worker = Worker(
        name=name, contracts_dir=TEST_CONTRACTS, max_inflight=max_inflight, exact_numbers=True
    )

    @worker.handler("echo", version=1)
    async def echo(request: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        if seen is not None:
            seen.append((request, context))
        await asyncio.sleep(float(request.get("sleep_ms", 0)) / 1000)
        return answer(request)

    def echo_in_thread(request: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        if seen is not None:
            seen.append((request, context))
        time.sleep(float(request.get("sleep_ms", 0)) / 1000)
        return answer(request)

    if threaded_v2:
        worker.handler("echo", version=2)(echo_in_thread)
    return worker


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """The reply to an echo request, or the failure its ``behavior`` asks for."""
    behavior = request.get("behavior", "echo")
    if behavior == "fail":
        raise ServiceError("echo_failed", "echo was asked to fail")
    if behavior == "crash":
        raise RuntimeError("boom secret traceback detail")
    if behavior == "bad_reply":
        return {"text": 42, "n": "seven", "extra": True}  # three violations
    reply = {"text": request["text"]}
    if "n" in request:
        reply["n"] = request["n"]
    return reply


worker = build_worker()
