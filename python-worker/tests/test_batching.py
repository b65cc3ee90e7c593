"""Batch handlers: concurrent requests of a contract answered by one call of the handler."""

import asyncio
import json
import math
import os
import threading
import time
from typing import Any

import batch_worker
import pytest
from conftest import TEST_CONTRACTS
from nats.aio.client import Client
from support import call, deadline_in, error_of

from notebridge_worker import Batch, RequestContext, ServiceError, Worker
from notebridge_worker.protocol import HEADER_DEADLINE, HEADER_REQUEST_ID
from notebridge_worker.testing import CallError, TestClient

ECHO_V1 = "nb.echo.v1"
JOB_CONTRACTS = os.path.join(os.path.dirname(__file__), "job_contracts")


def batch_worker_with(
    batch: Batch, batches: list[list[str]], sleep: float = 0.0, **options: Any
) -> Worker:
    """echo/v1 in batches; each batch's texts are appended to ``batches`` as it starts."""
    worker = Worker(name="batches", contracts_dir=TEST_CONTRACTS, **options)

    @worker.handler("echo", version=1, batch=batch)
    def echo(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        batches.append([request["text"] for request in requests])
        time.sleep(sleep)
        return [
            {"text": f"{request['text']} #{position}/{len(requests)}"}
            for position, request in enumerate(requests, start=1)
        ]

    return worker


async def call_all(client: Client, texts: list[str], **kwargs: Any) -> list[Any]:
    """Send one request per text at once (in this order) and return the replies."""
    return await asyncio.gather(*(call(client, ECHO_V1, {"text": t}, **kwargs) for t in texts))


def texts_of(replies: list[Any]) -> list[str]:
    assert [error_of(reply) for reply in replies] == [None] * len(replies)
    return [json.loads(reply.data)["text"] for reply in replies]


# What a batch holds, and who gets which reply.


async def test_a_burst_of_200_at_the_defaults_is_queued_into_batches_not_refused(
    client: Client, serve
) -> None:
    batches: list[list[str]] = []
    worker = batch_worker_with(Batch(), batches, sleep=0.05)
    assert worker.max_inflight == 4 * Batch().max_size
    texts = [f"burst {i}" for i in range(200)]
    async with serve(worker):
        replies = await call_all(client, texts)
    assert sorted(text.split(" #")[0] for text in texts_of(replies)) == sorted(texts)
    assert max(len(batch) for batch in batches) <= Batch().max_size


async def test_a_max_inflight_given_still_bounds_batches(client: Client, serve) -> None:
    worker = batch_worker_with(Batch(), [], sleep=0.2, max_inflight=10)
    assert worker.max_inflight == 10
    async with serve(worker):
        replies = await call_all(client, [f"r{i}" for i in range(30)])
    codes = [error_of(reply) for reply in replies]
    assert codes.count(None) == 10, codes
    assert {code[0] for code in codes if code} == {"busy"}


async def test_concurrent_callers_each_get_their_own_reply_from_one_batch(
    client: Client, serve
) -> None:
    batches: list[list[str]] = []
    texts = [f"caller {i}" for i in range(8)]
    async with serve(batch_worker_with(Batch(max_size=8, max_wait=5.0), batches)):
        replies = await call_all(client, texts)
    # Full at 8, so it did not wait 5 s; in arrival order, and each caller got its own item.
    assert batches == [texts]
    assert texts_of(replies) == [f"caller {i} #{i + 1}/8" for i in range(8)]


async def test_a_partial_batch_runs_at_max_wait(client: Client, serve) -> None:
    batches: list[list[str]] = []
    # max_wait is long beside the 0.2 s the requests take to arrive (and short of echo/v1's
    # 2 s timeout), so a loaded machine still gets them into one batch, which only max_wait
    # closes.
    async with serve(batch_worker_with(Batch(max_size=64, max_wait=1.0), batches)):
        calls = []
        for text in ["a", "b", "c"]:  # 0.1 s apart: all within the first one's max_wait
            calls.append(asyncio.create_task(call(client, ECHO_V1, {"text": text})))
            await asyncio.sleep(0.1)
        replies = await asyncio.wait_for(asyncio.gather(*calls), 10)
    assert batches == [["a", "b", "c"]]
    assert texts_of(replies) == ["a #1/3", "b #2/3", "c #3/3"]


async def test_a_batch_holds_at_most_max_size(client: Client, serve) -> None:
    batches: list[list[str]] = []
    texts = [str(i) for i in range(10)]
    # A long max_wait: only max_size closes the first two batches, however the requests
    # are spread out in time; the last one, of two, waits it out.
    async with serve(batch_worker_with(Batch(max_size=4, max_wait=1.0), batches, sleep=0.05)):
        replies = await asyncio.wait_for(call_all(client, texts), 10)
    assert [len(batch) for batch in batches] == [4, 4, 2]
    assert [text for batch in batches for text in batch] == texts
    assert [text.split(" ")[0] for text in texts_of(replies)] == texts


async def test_the_next_batch_fills_while_one_runs(client: Client, serve) -> None:
    batches: list[list[str]] = []
    running = 0
    most_running = 0
    worker = Worker(name="adaptive", contracts_dir=TEST_CONTRACTS)

    @worker.handler("echo", version=1, batch=Batch(max_size=64, max_wait=0.0))
    async def echo(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        nonlocal running, most_running
        running += 1
        most_running = max(most_running, running)
        batches.append([request["text"] for request in requests])
        await asyncio.sleep(0.5)
        running -= 1
        return [{"text": request["text"]} for request in requests]

    async with serve(worker):
        first = asyncio.create_task(call(client, ECHO_V1, {"text": "first"}))
        await asyncio.sleep(0.2)  # the first batch (max_wait 0: of one) is running
        rest = await call_all(client, ["a", "b", "c", "d"])
        await first
    assert batches == [["first"], ["a", "b", "c", "d"]]
    assert most_running == 1
    assert texts_of(rest) == ["a", "b", "c", "d"]


async def test_the_handler_gets_each_requests_context(client: Client, serve) -> None:
    seen: list[list[RequestContext]] = []
    worker = Worker(name="contexts", contracts_dir=TEST_CONTRACTS)

    @worker.handler("echo", version=1, batch=Batch(max_size=3, max_wait=5.0))
    def echo(requests: list[dict[str, Any]], contexts: list[RequestContext]) -> list[dict]:
        seen.append(contexts)
        return [{"text": context.request_id} for context in contexts]

    async with serve(worker):
        replies = await asyncio.gather(
            *(
                call(client, ECHO_V1, {"text": "x"}, headers={HEADER_REQUEST_ID: f"r-{i}"})
                for i in range(3)
            )
        )
    assert [[context.request_id for context in batch] for batch in seen] == [["r-0", "r-1", "r-2"]]
    assert texts_of(replies) == ["r-0", "r-1", "r-2"]


# Errors: one caller's, or the whole batch's.


async def test_an_item_that_is_a_service_error_reaches_only_its_caller(
    client: Client, serve
) -> None:
    worker = Worker(name="items", contracts_dir=TEST_CONTRACTS)
    worker.handler("echo", version=1, batch=Batch(max_size=3, max_wait=5.0))(
        batch_worker.echo_batch
    )
    bodies = [{"text": "ok"}, {"text": "no", "behavior": "fail"}, {"text": "fine"}]
    async with serve(worker):
        replies = await asyncio.gather(
            *(
                call(client, ECHO_V1, body, headers={HEADER_REQUEST_ID: f"q-{i}"})
                for i, body in enumerate(bodies)
            )
        )
    assert error_of(replies[1]) == ("echo_failed", "item q-1 failed")
    assert texts_of([replies[0], replies[2]]) == ["ok #1/3", "fine #3/3"]


async def test_a_service_error_raised_by_the_handler_reaches_every_caller(
    client: Client, serve
) -> None:
    worker = Worker(name="raises", contracts_dir=TEST_CONTRACTS)

    @worker.handler("echo", version=1, batch=Batch(max_size=3, max_wait=5.0))
    def echo(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        raise ServiceError("model_unavailable", "the model is still loading")

    async with serve(worker):
        replies = await call_all(client, ["a", "b", "c"])
    assert [error_of(reply) for reply in replies] == [
        ("model_unavailable", "the model is still loading")
    ] * 3


async def test_a_crash_is_internal_for_every_caller_and_logged_once(
    client: Client, serve, caplog: pytest.LogCaptureFixture
) -> None:
    worker = Worker(name="crashes", contracts_dir=TEST_CONTRACTS)
    worker.handler("echo", version=1, batch=Batch(max_size=3, max_wait=5.0))(
        batch_worker.echo_batch
    )
    bodies = [{"text": "a"}, {"text": "b", "behavior": "crash"}, {"text": "c"}]
    async with serve(worker):
        replies = await asyncio.gather(
            *(
                call(client, ECHO_V1, body, headers={HEADER_REQUEST_ID: f"c-{i}"})
                for i, body in enumerate(bodies)
            )
        )
    errors = [error_of(reply) for reply in replies]
    assert errors == [
        ("internal", f"internal error in handler echo/v1 (request c-{i}, one of a batch of 3)")
        for i in range(3)
    ]
    assert all("secret" not in message for _, message in errors)
    logged = [r for r in caplog.records if r.name == "notebridge_worker" and r.exc_info]
    assert len(logged) == 1
    assert "batch handler echo/v1 failed on a batch of 3 requests" in logged[0].getMessage()
    assert "boom secret traceback detail" in caplog.text


@pytest.mark.parametrize(
    ("returned", "described"),
    [
        (lambda requests: [{"text": "only one"}], "returned 1 items for a batch of 2 requests"),
        (lambda requests: {"text": "a dict"}, "returned a dict for a batch of 2 requests"),
    ],
)
async def test_a_result_of_the_wrong_length_is_internal_for_every_caller(
    client: Client, serve, caplog: pytest.LogCaptureFixture, returned, described: str
) -> None:
    worker = Worker(name="short", contracts_dir=TEST_CONTRACTS)
    worker.handler("echo", version=1, batch=Batch(max_size=2, max_wait=5.0))(returned)
    async with serve(worker):
        replies = await call_all(client, ["a", "b"])
    for reply in replies:
        code, message = error_of(reply)
        assert code == "internal"
        assert message.startswith(f"batch handler echo/v1 {described} (request ")
    assert f"batch handler echo/v1 {described}" in caplog.text


async def test_a_reply_that_breaks_the_contract_fails_only_its_caller(
    client: Client, serve
) -> None:
    worker = Worker(name="bad-item", contracts_dir=TEST_CONTRACTS)

    @worker.handler("echo", version=1, batch=Batch(max_size=2, max_wait=5.0))
    def echo(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"text": 42}, {"text": "fine"}]

    async with serve(worker):
        replies = await call_all(client, ["a", "b"])
    assert error_of(replies[0])[0] == "invalid_reply"
    assert texts_of([replies[1]]) == ["fine"]


async def test_an_invalid_request_never_joins_a_batch(client: Client, serve) -> None:
    batches: list[list[str]] = []
    async with serve(batch_worker_with(Batch(max_size=2, max_wait=0.3), batches)):
        bad, good = await asyncio.gather(
            call(client, ECHO_V1, {"text": 1}), call(client, ECHO_V1, {"text": "good"})
        )
    assert error_of(bad)[0] == "invalid_request"
    assert texts_of([good]) == ["good #1/1"]
    assert batches == [["good"]]


# Deadlines, and callers that went away.


async def test_a_request_whose_deadline_passes_in_a_running_batch_does_not_fail_the_others(
    client: Client, serve
) -> None:
    batches: list[list[str]] = []
    async with serve(batch_worker_with(Batch(max_size=2, max_wait=5.0), batches, sleep=1.0)):
        hurried, patient = await asyncio.gather(
            call(client, ECHO_V1, {"text": "hurried"}, headers={HEADER_DEADLINE: deadline_in(0.3)}),
            call(client, ECHO_V1, {"text": "patient"}),
        )
    assert error_of(hurried)[0] == "deadline_exceeded"
    assert texts_of([patient]) == ["patient #2/2"]
    assert batches == [["hurried", "patient"]]


async def test_a_request_whose_deadline_passes_while_it_waits_is_left_out_of_its_batch(
    client: Client, serve, caplog: pytest.LogCaptureFixture
) -> None:
    batches: list[list[str]] = []
    async with serve(batch_worker_with(Batch(max_size=8, max_wait=0.0), batches, sleep=0.6)):
        first = asyncio.create_task(call(client, ECHO_V1, {"text": "first"}))
        await asyncio.sleep(0.2)  # the first batch runs until 0.6 s, past hurried's deadline
        hurried, patient = await asyncio.gather(
            call(client, ECHO_V1, {"text": "hurried"}, headers={HEADER_DEADLINE: deadline_in(0.3)}),
            call(client, ECHO_V1, {"text": "patient"}),
        )
        await first
    assert error_of(hurried)[0] == "deadline_exceeded"
    assert texts_of([patient]) == ["patient #1/1"]
    assert batches == [["first"], ["patient"]]
    assert "its deadline passed while it waited for a batch" in caplog.text


async def test_requests_waiting_when_the_worker_stops_are_all_answered(
    client: Client, nats_url: str
) -> None:
    import nats

    batches: list[list[str]] = []
    worker = batch_worker_with(Batch(max_size=2, max_wait=0.0), batches, sleep=1.0)
    nc = await nats.connect(nats_url)
    try:
        async with worker.serving(nc, grace_seconds=0.3):
            calls = asyncio.ensure_future(call_all(client, [str(i) for i in range(6)], timeout=8))
            await asyncio.sleep(0.3)  # the first batch runs; the others wait
        replies = await asyncio.wait_for(calls, 8)
    finally:
        await nc.drain()
    outcomes = [error_of(reply)[0] if error_of(reply) else "ok" for reply in replies]
    # Every caller got an answer (none waited for its deadline): a reply, or busy.
    assert set(outcomes) <= {"ok", "busy"}
    assert "busy" in outcomes


async def test_a_caller_that_goes_away_does_not_break_its_batch() -> None:
    # A job cancelled mid-batch, for one: its request's task is cancelled, the others wait on.
    batches: list[list[str]] = []
    worker = batch_worker_with(Batch(max_size=3, max_wait=5.0), batches, sleep=0.3)
    route = worker.routes["echo/v1"]
    async with worker.pipeline() as pipeline:
        tasks = [
            asyncio.create_task(pipeline.process(route, json.dumps({"text": t}).encode(), {}, t))
            for t in "abc"
        ]
        await asyncio.sleep(0.1)  # the batch of three runs
        tasks[1].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert batches == [["a", "b", "c"]]
    assert [results[0].body, results[2].body] == [b'{"text":"a #1/3"}', b'{"text":"c #3/3"}']
    assert isinstance(results[1], asyncio.CancelledError)


async def test_an_async_batch_handler_stops_once_every_caller_went_away() -> None:
    stopped = asyncio.Event()
    worker = Worker(name="abandoned", contracts_dir=TEST_CONTRACTS)

    @worker.handler("echo", version=1, batch=Batch(max_size=2, max_wait=5.0))
    async def echo(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            await asyncio.sleep(30)
        finally:
            stopped.set()
        return requests

    route = worker.routes["echo/v1"]
    async with worker.pipeline() as pipeline:
        tasks = [
            asyncio.create_task(pipeline.process(route, json.dumps({"text": t}).encode(), {}, t))
            for t in "ab"
        ]
        await asyncio.sleep(0.1)  # the batch runs
        tasks[0].cancel()
        await asyncio.sleep(0.1)
        assert not stopped.is_set()  # b still waits for its reply
        tasks[1].cancel()
        await asyncio.wait_for(stopped.wait(), 5)
        await asyncio.gather(*tasks, return_exceptions=True)


# Where the handler runs.


async def test_an_async_batch_handler_runs_on_the_event_loop(client: Client, serve) -> None:
    worker = Worker(name="async-batches", contracts_dir=TEST_CONTRACTS)
    loop_thread: list[int] = []

    @worker.handler("echo", version=1, batch=Batch(max_size=2, max_wait=5.0))
    async def echo(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        loop_thread.append(threading.get_ident())
        return [{"text": request["text"].upper()} for request in requests]

    async with serve(worker):
        replies = await call_all(client, ["a", "b"])
    assert texts_of(replies) == ["A", "B"]
    assert loop_thread == [threading.get_ident()]


async def test_a_batch_handler_runs_in_the_process_pool(client: Client, serve) -> None:
    worker = Worker(name="batch-processes", contracts_dir=TEST_CONTRACTS, pool_size=1)
    worker.handler("echo", version=1, pool="process", batch=Batch(max_size=3, max_wait=5.0))(
        batch_worker.echo_batch_with_pid
    )
    async with serve(worker):
        replies = await call_all(client, ["a", "b", "c"])
    texts = texts_of(replies)
    pids = {text.rsplit(" ", 1)[1] for text in texts}
    assert [text.split(" ")[0] for text in texts] == ["a", "b", "c"]
    assert len(pids) == 1
    assert str(os.getpid()) not in pids


# Offline, as in a notebook.


def test_the_test_client_runs_a_batch_handler() -> None:
    batches: list[list[str]] = []
    client = TestClient(batch_worker_with(Batch(max_size=2, max_wait=0.0), batches))
    assert client.call("echo", {"text": "alone"}) == {"text": "alone #1/1"}
    assert batches == [["alone"]]


def test_call_many_sends_concurrent_requests_that_form_batches() -> None:
    worker = Worker(name="offline", contracts_dir=TEST_CONTRACTS)
    worker.handler("echo", version=1, batch=Batch(max_size=2, max_wait=0.2))(
        batch_worker.echo_batch
    )
    requests = [{"text": "a"}, {"text": "b", "behavior": "fail"}, {"text": "c"}, {"text": 1}]
    replies = TestClient(worker).call_many("echo", requests, headers={HEADER_REQUEST_ID: "same"})
    assert replies[0] == {"text": "a #1/2"}
    assert isinstance(replies[1], CallError)
    assert (replies[1].code, replies[1].message) == ("echo_failed", "item same failed")
    assert replies[2] == {"text": "c #1/1"}
    assert isinstance(replies[3], CallError)
    assert replies[3].code == "invalid_request"


def test_a_batch_handler_gets_models_for_a_list_of_models() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Echo(pydantic.BaseModel):
        text: str

    worker = Worker(name="typed", contracts_dir=TEST_CONTRACTS)
    seen: list[Any] = []

    @worker.handler("echo", version=1, batch=Batch(max_size=2, max_wait=5.0))
    def echo(requests: list[Echo]) -> list[Echo]:
        seen.extend(requests)
        return [Echo(text=request.text * 2) for request in requests]

    assert TestClient(worker).call_many("echo", [{"text": "a"}, {"text": "b"}]) == [
        {"text": "aa"},
        {"text": "bb"},
    ]
    assert [type(request) for request in seen] == [Echo, Echo]


def test_a_job_contract_may_batch() -> None:
    worker = Worker(name="jobs", contracts_dir=JOB_CONTRACTS)

    @worker.handler("steps", version=1, batch=Batch(max_size=2, max_wait=5.0))
    def steps(requests: list[dict], contexts: list[RequestContext]) -> list[dict]:
        return [{"text": request["text"], "attempt": len(requests)} for request in requests]

    assert TestClient(worker).call_many("steps", [{"text": "a"}, {"text": "b"}]) == [
        {"text": "a", "attempt": 2},
        {"text": "b", "attempt": 2},
    ]


# Configuration and registration.


def test_batch_keeps_its_settings() -> None:
    assert Batch() == Batch(max_size=64, max_wait=0.005)
    batch = Batch(max_size=1, max_wait=0)
    assert (batch.max_size, batch.max_wait) == (1, 0.0)
    assert type(batch.max_wait) is float


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_size": 0}, "Batch max_size must be an int of at least 1, not 0"),
        ({"max_size": 2.0}, "Batch max_size must be an int of at least 1, not 2.0"),
        ({"max_size": True}, "Batch max_size must be an int of at least 1, not True"),
        ({"max_wait": -0.001}, "Batch max_wait must be a finite number of seconds, 0 or more"),
        ({"max_wait": math.inf}, "Batch max_wait must be a finite number of seconds, 0 or more"),
        ({"max_wait": math.nan}, "Batch max_wait must be a finite number of seconds, 0 or more"),
        ({"max_wait": "5ms"}, "Batch max_wait must be a finite number of seconds, 0 or more"),
    ],
)
def test_batch_refuses_settings_it_cannot_keep(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        Batch(**settings)


def test_the_decorator_returns_the_function_unchanged() -> None:
    worker = Worker(name="unchanged", contracts_dir=TEST_CONTRACTS)

    def echo(requests: list[dict]) -> list[dict]:
        return requests

    assert worker.handler("echo", version=1, batch=Batch())(echo) is echo
    assert worker.served == ["echo/v1"]


def test_a_stream_contract_cannot_batch() -> None:
    worker = Worker(name="stream", contracts_dir=TEST_CONTRACTS)
    with pytest.raises(TypeError, match="tokens/v1 is a stream contract: a batch gets one reply"):

        @worker.handler("tokens", version=1, batch=Batch())
        def tokens(requests: list[dict]) -> list[dict]:
            return requests

    assert worker.served == []


def test_batch_must_be_a_batch() -> None:
    worker = Worker(name="not-a-batch", contracts_dir=TEST_CONTRACTS)
    with pytest.raises(TypeError, match=r"batch must be a notebridge_worker.Batch"):
        worker.handler("echo", version=1, batch=64)  # type: ignore[arg-type]


def test_a_batch_handler_takes_the_requests_and_perhaps_their_contexts() -> None:
    worker = Worker(name="three", contracts_dir=TEST_CONTRACTS)
    with pytest.raises(TypeError, match=r"batch handler .* must take the list of requests"):

        @worker.handler("echo", version=1, batch=Batch())
        def echo(requests: list[dict], contexts: list, extra: int) -> list[dict]:
            return requests


def test_a_batch_handler_cannot_be_a_generator() -> None:
    worker = Worker(name="generator", contracts_dir=TEST_CONTRACTS)
    with pytest.raises(TypeError, match="is a generator, but echo/v1 is a sync contract"):

        @worker.handler("echo", version=1, batch=Batch())
        def echo(requests: list[dict]):
            yield from requests
