"""Handlers for the pool tests, defined at module level so that a process pool can import them.

Each serves the echo test contract (testdata/contracts): ``spin`` burns CPU, holding the GIL,
for ``sleep_ms``; ``behavior`` "fail" raises a ServiceError and "crash" ends the process.
"""

import os
import time
from typing import Any

from notebridge_worker import ServiceError

PROCESS_EXIT_STATUS = 3


def spin(request: dict[str, Any]) -> dict[str, Any]:
    """Answer after ``sleep_ms`` of pure-Python CPU work."""
    behavior = request.get("behavior")
    if behavior == "fail":
        raise ServiceError("spin_failed", f"spin was asked to fail in process {os.getpid()}")
    if behavior == "crash":
        os._exit(PROCESS_EXIT_STATUS)
    give_up_at = time.monotonic() + request.get("sleep_ms", 0) / 1000
    turns = 0
    while time.monotonic() < give_up_at:
        turns += 1
    return {"text": f"{request['text']} from process {os.getpid()}"}


async def echo(request: dict[str, Any]) -> dict[str, Any]:
    """Answer at once, on the event loop."""
    return {"text": request["text"]}
