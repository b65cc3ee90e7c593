"""Run a coroutine to completion from plain code, even where an event loop already runs."""

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on a fresh event loop and return its result.

    Jupyter (and an async test) already runs a loop in this thread, where ``asyncio.run``
    refuses to start another; the coroutine then runs on a loop in a helper thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="notebridge-run") as helper:
        return helper.submit(asyncio.run, coroutine).result()
