"""Testing a worker: offline through its handlers, or as real processes on a real NATS server.

Offline, with no NATS: :class:`TestClient` sends a request through the path a served request
takes (digest, deadline, request schema, handler, its pool, reply schema), and runs the
examples of the worker's contracts::

    from notebridge_worker.testing import TestClient
    from my_worker import worker

    def test_summarize():
        reply = TestClient(worker).call("summarize", {"text": "One. Two."}, version=1)
        assert reply["summary"] == "One."

    def test_every_example():
        assert all(result.passed for result in TestClient(worker).run_examples())

    def test_generate_streams():  # a stream contract: the validated chunks, in order
        chunks = TestClient(worker).stream("generate", {"prompt": "Once"})

    def test_repaired():  # the attempts and usage that travel beside a reply
        assert TestClient(worker).exchange("flowchart", {"steps": ["a"]}).attempts == 2

    def test_score_in_batches():  # concurrent callers, so that a batch handler sees batches
        replies = TestClient(worker).call_many("score", [{"x": 1}, {"x": 2}])

Real processes::

    with run_nats_server() as nats_url:
        with run_worker_process("my_module:worker", nats_url, "contracts") as worker:
            ...  # send requests to nats_url; worker.log() has what the worker logged
"""

from notebridge_worker.testing.client import ExampleResult, TestClient
from notebridge_worker.testing.exchange import CallError, Exchange
from notebridge_worker.testing.processes import (
    WorkerProcess,
    run_nats_server,
    run_worker_process,
    terminate,
)

__all__ = [
    "CallError",
    "ExampleResult",
    "Exchange",
    "TestClient",
    "WorkerProcess",
    "run_nats_server",
    "run_worker_process",
    "terminate",
]
