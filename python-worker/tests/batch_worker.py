"""A batch handler for the echo test contract (testdata/contracts), at module level so that a
process pool and ``notebridge-worker run`` can import it.

Each reply says where its request was in its batch: ``"<text> #<position>/<batch size>"``.
The batch sleeps for the largest ``sleep_ms`` it holds; ``behavior`` "fail" makes that item a
ServiceError (only its caller gets it), "crash" makes the whole call raise.

    notebridge-worker run python-worker/tests/batch_worker.py:worker \\
        --contracts-dir testdata/contracts
"""

import os
import time
from pathlib import Path
from typing import Any

from notebridge_worker import Batch, RequestContext, ServiceError, Worker

TEST_CONTRACTS = Path(__file__).resolve().parents[2] / "testdata" / "contracts"


def echo_batch(
    requests: list[dict[str, Any]], contexts: list[RequestContext]
) -> list[dict[str, Any] | ServiceError]:
    """Answer a batch of echo requests, each with its position in the batch."""
    if any(request.get("behavior") == "crash" for request in requests):
        raise RuntimeError("boom secret traceback detail")
    time.sleep(max(request.get("sleep_ms", 0) for request in requests) / 1000)
    replies: list[dict[str, Any] | ServiceError] = []
    for position, (request, context) in enumerate(zip(requests, contexts, strict=True), start=1):
        if request.get("behavior") == "fail":
            replies.append(ServiceError("echo_failed", f"item {context.request_id} failed"))
        else:
            replies.append({"text": f"{request['text']} #{position}/{len(requests)}"})
    return replies


def echo_batch_with_pid(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each reply names the process that ran the batch."""
    return [{"text": f"{request['text']} in {os.getpid()}"} for request in requests]


worker = Worker(name="batch-echo", contracts_dir=TEST_CONTRACTS)
worker.handler("echo", version=1, batch=Batch(max_size=16, max_wait=0.2))(echo_batch)
