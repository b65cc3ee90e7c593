"""A Worker served in this process, called over a real NATS server as the gateway calls it."""

import asyncio
import json
import time

import pytest
from echo_worker import build_worker
from nats.aio.client import Client
from support import call, deadline_in, error_of

from notebridge_worker import ContractError, RequestContext, Worker
from notebridge_worker.protocol import (
    HEADER_CONTRACT,
    HEADER_CONTRACT_DIGEST,
    HEADER_DEADLINE,
    HEADER_REQUEST_ID,
    HEADER_TRACEPARENT,
)

ECHO_V1 = "nb.echo.v1"
ECHO_V2_IN_THREAD = "nb.echo.v2"


async def test_reply_is_the_handlers_answer(client: Client, serve) -> None:
    async with serve(build_worker()):
        reply = await call(client, ECHO_V1, {"text": "héllo 日本"})
    assert error_of(reply) is None
    assert json.loads(reply.data) == {"text": "héllo 日本"}


async def test_numbers_keep_every_digit(client: Client, serve) -> None:
    body = b'{"text":"n","n":12345678901234567890.125}'
    async with serve(build_worker()):
        reply = await call(client, ECHO_V1, body)
    assert reply.data == body


async def test_handler_gets_floats_unless_it_asks_for_exact_numbers(client: Client, serve) -> None:
    worker = Worker(name="floats", contracts_dir=build_worker().contracts_dir)
    seen = []

    @worker.handler("echo", version=1)
    def remember(request):
        seen.append(request["n"])
        return {"text": "ok"}

    async with serve(worker):
        await call(client, ECHO_V1, b'{"text":"n","n":0.5}')
    assert seen == [0.5]
    assert type(seen[0]) is float


async def test_service_error_reaches_the_caller(client: Client, serve) -> None:
    async with serve(build_worker()):
        reply = await call(client, ECHO_V1, {"text": "x", "behavior": "fail"})
    assert error_of(reply) == ("echo_failed", "echo was asked to fail")


async def test_crash_is_internal_and_its_traceback_stays_in_the_log(
    client: Client, serve, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve(build_worker()):
        reply = await call(
            client, ECHO_V1, {"text": "x", "behavior": "crash"}, {HEADER_REQUEST_ID: "req-42"}
        )
    assert error_of(reply) == ("internal", "internal error in handler echo/v1 (request req-42)")
    assert b"boom" not in reply.data
    assert "boom" not in json.dumps(reply.headers)
    logged = [r for r in caplog.records if r.name == "notebridge_worker" and r.exc_info]
    assert len(logged) == 1
    assert "req-42" in logged[0].getMessage()
    assert "boom secret traceback detail" in str(logged[0].exc_info[1])


async def test_reply_that_breaks_the_contract_is_invalid_reply(
    client: Client, serve, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve(build_worker()):
        reply = await call(client, ECHO_V1, {"text": "x", "behavior": "bad_reply"})
    code, message = error_of(reply)
    assert code == "invalid_reply"
    assert message == (
        'echo/v1 reply broke the contract: reply: unexpected property "extra"; '
        "n: expected number, got string at /n; text: expected string, got integer at /text"
    )
    assert json.loads(reply.data) == {
        "violations": [
            {
                "instancePath": "",
                "keyword": "additionalProperties",
                "message": 'unexpected property "extra"',
            },
            {"instancePath": "/n", "keyword": "type", "message": "expected number, got string"},
            {"instancePath": "/text", "keyword": "type", "message": "expected string, got integer"},
        ]
    }
    assert "echo/v1 reply broke the contract (request " in caplog.text
    assert '): reply: unexpected property "extra"; n: expected number' in caplog.text


async def test_reply_that_is_not_json_is_invalid_reply(client: Client, serve) -> None:
    worker = Worker(name="sets", contracts_dir=build_worker().contracts_dir)

    @worker.handler("echo", version=1)
    def answer_with_a_set(request):
        return {"text": {"not", "json"}}

    async with serve(worker):
        reply = await call(client, ECHO_V1, {"text": "x"})
    code, message = error_of(reply)
    assert code == "invalid_reply"
    assert "not JSON: Object of type set is not JSON serializable" in message


async def test_invalid_request_lists_every_violation(client: Client, serve) -> None:
    seen = []
    async with serve(build_worker(seen=seen)):
        reply = await call(client, ECHO_V1, {"text": 5, "sleep_ms": 1.5, "extra": True})
    code, message = error_of(reply)
    assert code == "invalid_request"
    assert message.startswith("the request breaks echo/v1: ")
    violations = json.loads(reply.data)["violations"]
    assert [(v["instancePath"], v["keyword"]) for v in violations] == [
        ("", "additionalProperties"),
        ("/sleep_ms", "type"),
        ("/text", "type"),
    ]
    assert seen == []


async def test_body_that_is_not_json_is_invalid_request(client: Client, serve) -> None:
    async with serve(build_worker()):
        reply = await call(client, ECHO_V1, b'{"text": ')
    code, message = error_of(reply)
    assert code == "invalid_request"
    assert message.startswith("the request body is not JSON: ")


async def test_digest_mismatch_is_drift(client: Client, serve) -> None:
    worker = build_worker()
    own_digest = worker.contracts["echo/v1"].digest
    stale_digest = "sha256:" + "0" * 64
    async with serve(worker):
        drifted = await call(client, ECHO_V1, {"text": "x"}, {HEADER_CONTRACT_DIGEST: stale_digest})
        matching = await call(client, ECHO_V1, {"text": "x"}, {HEADER_CONTRACT_DIGEST: own_digest})
    code, message = error_of(drifted)
    assert code == "drift"
    assert "echo/v1" in message
    assert stale_digest in message
    assert own_digest in message
    assert error_of(matching) is None


@pytest.mark.parametrize("subject", [ECHO_V1, ECHO_V2_IN_THREAD])
async def test_expired_deadline_does_not_run_the_handler(
    client: Client, serve, subject: str
) -> None:
    seen = []
    async with serve(build_worker(seen=seen, threaded_v2=True)):
        reply = await call(client, subject, {"text": "x"}, {HEADER_DEADLINE: deadline_in(-1)})
    code, message = error_of(reply)
    assert code == "deadline_exceeded"
    assert message.endswith(f"passed before echo/{subject.rsplit('.', 1)[1]} started")
    assert seen == []


@pytest.mark.parametrize("subject", [ECHO_V1, ECHO_V2_IN_THREAD])
async def test_handler_past_its_deadline_is_deadline_exceeded(
    client: Client, serve, subject: str
) -> None:
    async with serve(build_worker(threaded_v2=True)):
        started = time.monotonic()
        reply = await call(
            client, subject, {"text": "x", "sleep_ms": 1500}, {HEADER_DEADLINE: deadline_in(0.3)}
        )
        elapsed = time.monotonic() - started
    code, message = error_of(reply)
    assert code == "deadline_exceeded"
    assert "did not finish before the deadline" in message
    assert elapsed < 1.2


async def test_an_async_handler_past_its_deadline_is_cancelled(client: Client, serve) -> None:
    worker = Worker(name="cancel", contracts_dir=build_worker().contracts_dir)
    cancelled = asyncio.Event()

    @worker.handler("echo", version=1)
    async def waits(request):
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return {"text": "too late"}

    async with serve(worker):
        reply = await call(client, ECHO_V1, {"text": "x"}, {HEADER_DEADLINE: deadline_in(0.3)})
        await asyncio.wait_for(cancelled.wait(), timeout=2)
    assert error_of(reply)[0] == "deadline_exceeded"


async def test_requests_past_max_inflight_are_answered_busy(client: Client, serve) -> None:
    async with serve(build_worker(max_inflight=2)):
        slow = [
            asyncio.create_task(call(client, ECHO_V1, {"text": "slow", "sleep_ms": 1500}))
            for _ in range(2)
        ]
        await asyncio.sleep(0.3)
        started = time.monotonic()
        rejected = await call(client, ECHO_V1, {"text": "one too many"})
        answered_in = time.monotonic() - started
        slow_replies = await asyncio.gather(*slow)
        after = await call(client, ECHO_V1, {"text": "room again"})
    code, message = error_of(rejected)
    assert code == "busy"
    assert "2 requests in flight" in message
    assert answered_in < 0.5
    assert [error_of(reply) for reply in slow_replies] == [None, None]
    assert error_of(after) is None


async def test_thread_past_its_deadline_keeps_its_slot_until_it_returns(
    client: Client, serve
) -> None:
    async with serve(build_worker(max_inflight=1, threaded_v2=True)):
        late = await call(
            client,
            ECHO_V2_IN_THREAD,
            {"text": "x", "sleep_ms": 1000},
            {HEADER_DEADLINE: deadline_in(0.2)},
        )
        while_thread_runs = await call(client, ECHO_V1, {"text": "x"})
        await asyncio.sleep(1)
        after_thread_returned = await call(client, ECHO_V1, {"text": "x"})
    assert error_of(late)[0] == "deadline_exceeded"
    assert error_of(while_thread_runs)[0] == "busy"
    assert error_of(after_thread_returned) is None


@pytest.mark.parametrize("subject", [ECHO_V1, ECHO_V2_IN_THREAD])
async def test_slow_requests_run_concurrently(client: Client, serve, subject: str) -> None:
    async with serve(build_worker(threaded_v2=True)):
        started = time.monotonic()
        replies = await asyncio.gather(
            *(call(client, subject, {"text": f"r{i}", "sleep_ms": 1000}) for i in range(8))
        )
        elapsed = time.monotonic() - started
    assert [json.loads(reply.data)["text"] for reply in replies] == [f"r{i}" for i in range(8)]
    assert elapsed < 4, f"8 requests of 1 s took {elapsed:.1f} s: they ran one at a time"


async def test_info_lists_each_endpoint_with_its_digest(client: Client, serve) -> None:
    worker = build_worker(name="echo-info", threaded_v2=True)
    async with serve(worker):
        reply = await client.request("$SRV.INFO.echo-info", b"", timeout=5)
    info = json.loads(reply.data)
    endpoints = {endpoint["subject"]: endpoint for endpoint in info["endpoints"]}
    assert set(endpoints) == {"nb.echo.v1", "nb.echo.v2"}
    assert endpoints["nb.echo.v1"]["name"] == "echo-v1"
    assert endpoints["nb.echo.v1"]["queue_group"] == "nb"
    assert endpoints["nb.echo.v1"]["metadata"] == {
        "contract": "echo",
        "version": "1",
        "digest": worker.contracts["echo/v1"].digest,
    }


async def test_ping_finds_the_worker(client: Client, serve) -> None:
    async with serve(build_worker(name="echo-ping")):
        reply = await client.request("$SRV.PING.echo-ping", b"", timeout=5)
    ping = json.loads(reply.data)
    assert (ping["type"], ping["name"]) == ("io.nats.micro.v1.ping_response", "echo-ping")
    assert ping["metadata"]["sdk"] == "notebridge-worker-python"
    assert ping["id"]


async def test_stats_count_requests_in_flight(client: Client, serve) -> None:
    async with serve(build_worker(name="echo-stats", threaded_v2=True)):
        slow = asyncio.create_task(call(client, ECHO_V1, {"text": "x", "sleep_ms": 1000}))
        await asyncio.sleep(0.3)
        reply = await client.request("$SRV.STATS.echo-stats", b"", timeout=5)
        await slow
    stats = {endpoint["name"]: endpoint for endpoint in json.loads(reply.data)["endpoints"]}
    assert stats["echo-v1"]["data"] == {"inflight": 1}
    assert stats["echo-v2"]["data"] == {"inflight": 0}


async def test_stats_count_requests_errors_and_the_time_handlers_take(
    client: Client, serve
) -> None:
    async with serve(build_worker(name="echo-counts", threaded_v2=True)):
        await asyncio.gather(
            call(client, ECHO_V1, {"text": "slow", "sleep_ms": 300}),
            call(client, ECHO_V1, {"text": "x"}),
            call(client, ECHO_V1, {"text": "x", "behavior": "bad_reply"}),
        )
        reply = await client.request("$SRV.STATS.echo-counts", b"", timeout=5)
    stats = {endpoint["name"]: endpoint for endpoint in json.loads(reply.data)["endpoints"]}
    v1, v2 = stats["echo-v1"], stats["echo-v2"]
    assert (v1["num_requests"], v1["num_errors"]) == (3, 1)
    assert v1["last_error"] == (
        'invalid_reply: echo/v1 reply broke the contract: reply: unexpected property "extra"; '
        "n: expected number, got string at /n; text: expected string, got integer at /text"
    )
    # The handler's 300 ms count, not only the moment micro's callback took to admit it.
    assert v1["processing_time"] >= 300_000_000
    assert v1["average_processing_time"] == v1["processing_time"] // 3
    assert (v2["num_requests"], v2["num_errors"], v2["processing_time"]) == (0, 0, 0)


async def test_handler_gets_the_request_context(client: Client, serve) -> None:
    seen = []
    deadline = deadline_in(5)
    headers = {
        HEADER_REQUEST_ID: "req-7",
        HEADER_DEADLINE: deadline,
        HEADER_CONTRACT: "echo/v1",
        HEADER_TRACEPARENT: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }
    async with serve(build_worker(seen=seen)):
        await call(client, ECHO_V1, {"text": "x"}, headers)
    [(request, context)] = seen
    assert request == {"text": "x"}
    assert context.request_id == "req-7"
    assert context.deadline == int(deadline) / 1000
    assert (context.contract, context.version) == ("echo", 1)
    assert context.headers[HEADER_TRACEPARENT] == headers[HEADER_TRACEPARENT]
    assert 0 < context.time_left() <= 5


async def test_without_a_deadline_the_contracts_timeout_applies(client: Client, serve) -> None:
    seen = []
    async with serve(build_worker(seen=seen)):
        sent_at = time.time()
        await call(client, ECHO_V1, {"text": "x"})
    [(_, context)] = seen
    timeout_seconds = 2  # testdata/contracts/echo.v1.json
    assert sent_at + timeout_seconds - 1 < context.deadline < sent_at + timeout_seconds + 1
    assert context.request_id


def test_decorator_returns_the_function_unchanged() -> None:
    worker = Worker(contracts_dir=build_worker().contracts_dir)

    def shout(request):
        return {"text": request["text"].upper()}

    assert worker.handler("echo", version=1)(shout) is shout
    assert shout({"text": "still callable"}) == {"text": "STILL CALLABLE"}


def test_unknown_contract_fails_at_decoration() -> None:
    worker = Worker(contracts_dir=build_worker().contracts_dir)
    with pytest.raises(
        ContractError, match=r"no contract echo/v3 in .* \(it has: echo/v1, echo/v2, tokens/v1\)"
    ):
        worker.handler("echo", version=3)


def test_handler_must_take_a_request() -> None:
    worker = Worker(contracts_dir=build_worker().contracts_dir)
    with pytest.raises(TypeError, match="must take the request"):
        worker.handler("echo", version=1)(lambda: {"text": "x"})
    with pytest.raises(TypeError, match="must take the request"):
        worker.handler("echo", version=1)(lambda a, b, c: {"text": "x"})


def test_context_time_left_counts_down_to_zero() -> None:
    context = RequestContext("r", deadline=time.time() - 1, contract="echo", version=1)
    assert context.time_left() == 0.0
