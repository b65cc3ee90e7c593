"""Stream contracts: generator handlers served over a real NATS server, as the gateway calls them.

The tests play the gateway's part (docs/protocol.md, "Stream mode"): they publish a request
with an inbox as its reply subject and read the messages the worker publishes there. The
worker is tests/tokens_worker.py, serving the test contract tokens/v1 (idle timeout 1 s, so a
heartbeat every third of a second), with an async generator or, ``threaded``, a plain one.
"""

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import TEST_CONTRACTS
from echo_worker import build_worker as build_echo_worker
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import BaseModel
from support import deadline_in
from tokens_worker import build_worker

from notebridge_worker import ServiceError, Worker
from notebridge_worker.protocol import (
    HEADER_CANCEL,
    HEADER_CONTRACT_DIGEST,
    HEADER_DEADLINE,
    HEADER_REQUEST_ID,
    HEADER_SEQ,
    HEADER_SERVICE_ERROR,
    HEADER_SERVICE_ERROR_CODE,
    HEADER_STREAM,
)
from notebridge_worker.testing import CallError, TestClient

TOKENS = "nb.tokens.v1"
HEARTBEAT_SECONDS = 1 / 3  # tokens/v1 has idle_timeout_seconds 1
THREADED = pytest.mark.parametrize("threaded", [False, True], ids=["async", "thread"])


class Stream:
    """The messages a worker publishes for one stream request, read as they come."""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self.received: list[tuple[float, Msg]] = []

    async def next(self, timeout: float = 5.0) -> Msg:
        msg = await self.subscription.next_msg(timeout=timeout)
        self.received.append((time.monotonic(), msg))
        return msg

    async def rest(self, timeout: float = 5.0) -> list[Msg]:
        """Every message up to and including the last one (the end, or an error)."""
        messages = []
        while True:
            msg = await self.next(timeout)
            messages.append(msg)
            if kind(msg) in ("end", "error") or HEADER_SERVICE_ERROR_CODE in (msg.headers or {}):
                return messages

    async def nothing_more(self, seconds: float) -> list[Msg]:
        """What arrives within ``seconds`` (nothing, for a stream that is over)."""
        messages = []
        give_up_at = time.monotonic() + seconds
        while (left := give_up_at - time.monotonic()) > 0:
            try:
                messages.append(await self.next(left))
            except asyncio.TimeoutError:
                break
        return messages


async def open_stream(
    client: Client, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Stream:
    inbox = client.new_inbox()
    subscription = await client.subscribe(inbox)
    await client.publish(TOKENS, json.dumps(body).encode(), reply=inbox, headers=headers)
    return Stream(subscription)


async def whole_stream(
    client: Client, body: dict[str, Any], headers: dict[str, str] | None = None
) -> list[Msg]:
    return await (await open_stream(client, body, headers)).rest()


def kind(msg: Msg) -> str | None:
    return (msg.headers or {}).get(HEADER_STREAM)


def error_of(msg: Msg) -> tuple[str, str] | None:
    headers = msg.headers or {}
    if HEADER_SERVICE_ERROR_CODE not in headers:
        return None
    return headers[HEADER_SERVICE_ERROR_CODE], headers[HEADER_SERVICE_ERROR]


def without_heartbeats(messages: list[Msg]) -> list[Msg]:
    return [msg for msg in messages if kind(msg) != "heartbeat"]


async def until(check, what: str, timeout: float = 3.0) -> None:
    give_up_at = time.monotonic() + timeout
    while not check():
        if time.monotonic() > give_up_at:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


@THREADED
async def test_chunks_come_in_order_with_their_number_then_the_end(
    client: Client, serve, threaded: bool
) -> None:
    worker = build_worker(threaded=threaded)
    async with serve(worker):
        messages = await whole_stream(client, {"text": "one two three"}, {HEADER_REQUEST_ID: "r"})
    assert [(kind(m), m.headers.get(HEADER_SEQ), m.data) for m in messages] == [
        ("chunk", "1", b'{"text":"one "}'),
        ("chunk", "2", b'{"text":"two "}'),
        ("chunk", "3", b'{"text":"three "}'),
        ("end", "3", b""),
    ]
    assert all(error_of(m) is None for m in messages)
    # Every message says where to cancel: one subject for the stream, under the worker's inbox.
    assert len({m.headers[HEADER_CANCEL] for m in messages}) == 1
    assert messages[0].headers[HEADER_CANCEL].startswith("_INBOX.")
    assert worker.journal.of("r") == ["started", "chunk-1", "chunk-2", "chunk-3", "closed"]


async def test_an_empty_stream_is_just_its_end(client: Client, serve) -> None:
    async with serve(build_worker()):
        [end] = await whole_stream(client, {"text": ""})
    assert (kind(end), end.headers[HEADER_SEQ], end.data) == ("end", "0", b"")


@THREADED
async def test_heartbeats_while_the_generator_is_silent(
    client: Client, serve, threaded: bool
) -> None:
    async with serve(build_worker(threaded=threaded)):
        stream = await open_stream(client, {"text": "a b", "delay_ms": 1100})
        messages = await stream.rest()
    kinds = [kind(m) for m in messages]
    assert kinds[0] == "chunk"
    assert kinds[-2:] == ["chunk", "end"]
    heartbeats = [m for m in messages if kind(m) == "heartbeat"]
    assert len(heartbeats) >= 2, kinds
    assert all(m.data == b"" and HEADER_SEQ not in m.headers for m in heartbeats)
    assert all(m.headers[HEADER_CANCEL] == messages[0].headers[HEADER_CANCEL] for m in heartbeats)
    # Never silent for long: the gateway presumes a worker dead after the 1 s idle timeout.
    arrivals = [at for at, _ in stream.received]
    assert max(b - a for a, b in itertools.pairwise(arrivals)) < HEARTBEAT_SECONDS + 0.25


async def test_a_service_error_mid_stream_keeps_its_code(client: Client, serve) -> None:
    async with serve(build_worker()):
        messages = await whole_stream(client, {"text": "a b c", "behavior": "fail"})
    chunk, error = without_heartbeats(messages)
    assert (kind(chunk), chunk.data) == ("chunk", b'{"text":"a "}')
    assert kind(error) == "error"
    assert error_of(error) == ("tokens_failed", "failed before token 2")
    assert error.headers[HEADER_CANCEL] == chunk.headers[HEADER_CANCEL]


@THREADED
async def test_a_crash_mid_stream_is_internal_and_its_traceback_stays_in_the_log(
    client: Client, serve, caplog: pytest.LogCaptureFixture, threaded: bool
) -> None:
    async with serve(build_worker(threaded=threaded)):
        messages = await whole_stream(
            client, {"text": "a b c", "behavior": "crash"}, {HEADER_REQUEST_ID: "crash-7"}
        )
    _, error = without_heartbeats(messages)
    assert kind(error) == "error"
    assert error_of(error) == ("internal", "internal error in handler tokens/v1 (request crash-7)")
    assert b"boom" not in error.data
    assert "boom" not in json.dumps(error.headers)
    logged = [r for r in caplog.records if r.name == "notebridge_worker" and r.exc_info]
    assert len(logged) == 1
    assert "crash-7" in logged[0].getMessage()
    assert "boom secret traceback detail" in str(logged[0].exc_info[1])


@THREADED
async def test_a_chunk_that_breaks_the_chunk_schema_ends_the_stream_invalid_reply(
    client: Client, serve, caplog: pytest.LogCaptureFixture, threaded: bool
) -> None:
    worker = build_worker(threaded=threaded)
    async with serve(worker):
        messages = await whole_stream(
            client, {"text": "a b c", "behavior": "bad_chunk"}, {HEADER_REQUEST_ID: "bad-1"}
        )
        await until(lambda: "closed" in worker.journal.of("bad-1"), "the generator closed")
    chunk, error = without_heartbeats(messages)
    assert chunk.data == b'{"text":"a "}'
    assert kind(error) == "error"
    assert error_of(error) == (
        "invalid_reply",
        "tokens/v1 chunk 2 broke the contract: text: expected string, got integer at /text",
    )
    assert json.loads(error.data) == {
        "violations": [
            {"instancePath": "/text", "keyword": "type", "message": "expected string, got integer"}
        ]
    }
    assert (
        "tokens/v1 chunk 2 broke the contract (request bad-1): text: expected string, got "
        "integer at /text" in caplog.text
    )
    # The bad chunk was the last one asked for: the generator was closed, not run on.
    assert worker.journal.of("bad-1") == ["started", "chunk-1", "chunk-2", "closed"]
    if threaded:
        assert worker.journal.closed_in["bad-1"].startswith("notebridge-tokens")


@THREADED
async def test_cancel_stops_the_generator(client: Client, serve, threaded: bool) -> None:
    worker = build_worker(threaded=threaded)
    async with serve(worker):
        stream = await open_stream(
            client, {"text": "a b c d e f", "delay_ms": 300}, {HEADER_REQUEST_ID: "leaver"}
        )
        first = await stream.next()
        assert kind(first) == "chunk"
        await client.publish(first.headers[HEADER_CANCEL], b"")
        await until(lambda: "closed" in worker.journal.of("leaver"), "the generator closed")
        after_cancel = await stream.nothing_more(0.7)
        journal_then = worker.journal.of("leaver")
    assert [kind(m) for m in after_cancel if kind(m) != "heartbeat"] == []
    if threaded:
        # The next() under way when the cancel came finished (a thread cannot be stopped);
        # its chunk was dropped, then close() ran the generator's finally, in the pool, not
        # on the event loop (as dropping the generator would have).
        assert journal_then == ["started", "chunk-1", "chunk-2", "closed"]
        assert worker.journal.closed_in["leaver"].startswith("notebridge-tokens")
    else:
        assert journal_then == ["started", "chunk-1", "closed"]


async def test_the_deadline_bounds_the_whole_stream(client: Client, serve) -> None:
    worker = build_worker()
    async with serve(worker):
        started = time.monotonic()
        messages = await whole_stream(
            client,
            {"text": "a b c d e f", "delay_ms": 300},
            {HEADER_REQUEST_ID: "late", HEADER_DEADLINE: deadline_in(0.75)},
        )
        elapsed = time.monotonic() - started
        await until(lambda: "closed" in worker.journal.of("late"), "the generator closed")
    *chunks, error = without_heartbeats(messages)
    assert [m.headers[HEADER_SEQ] for m in chunks] == ["1", "2", "3"]
    assert kind(error) == "error"
    code, message = error_of(error)
    assert code == "deadline_exceeded"
    assert message == "tokens/v1 did not finish before the deadline of request late (3 chunks sent)"
    assert elapsed < 1.2
    assert worker.journal.of("late")[-1] == "closed"
    assert "chunk-4" not in worker.journal.of("late")


async def test_errors_before_the_first_chunk_are_ordinary_error_replies(
    client: Client, serve
) -> None:
    worker = build_worker()
    cases = {
        "fail_first": ({"text": "a b", "behavior": "fail_first"}, {}),
        "drift": ({"text": "a"}, {HEADER_CONTRACT_DIGEST: "sha256:" + "0" * 64}),
        "deadline": ({"text": "a"}, {HEADER_DEADLINE: deadline_in(-1)}),
        "invalid": ({"text": 5}, {}),
    }
    async with serve(worker):
        replies = {
            case: await whole_stream(client, body, {HEADER_REQUEST_ID: case, **headers})
            for case, (body, headers) in cases.items()
        }
    codes = {}
    for case, messages in replies.items():
        [reply] = messages
        assert HEADER_STREAM not in reply.headers, case
        codes[case] = error_of(reply)[0]
    assert codes == {
        "fail_first": "tokens_failed",
        "drift": "drift",
        "deadline": "deadline_exceeded",
        "invalid": "invalid_request",
    }
    # Only fail_first reached the handler.
    assert [rid for rid, event in worker.journal.events if event == "started"] == ["fail_first"]


async def test_a_stream_holds_its_in_flight_slot_until_it_ends(client: Client, serve) -> None:
    worker = build_worker(max_inflight=1)
    async with serve(worker):
        held = await open_stream(client, {"text": "a b", "behavior": "hold"})
        assert kind(await held.next()) == "chunk"
        [busy] = await whole_stream(client, {"text": "x"})
        worker.journal.release.set()
        rest = without_heartbeats(await held.rest())
        after = without_heartbeats(await whole_stream(client, {"text": "x"}))
    assert error_of(busy)[0] == "busy"
    assert HEADER_STREAM not in busy.headers
    assert [kind(m) for m in rest] == ["chunk", "end"]
    assert [kind(m) for m in after] == ["chunk", "end"]


async def test_stopping_lets_a_stream_finish_then_cuts_the_rest(nats_url: str) -> None:
    import nats

    worker = build_worker()
    client, nc = await nats.connect(nats_url), await nats.connect(nats_url)
    try:
        serving = asyncio.create_task(worker.serve(nc, grace_seconds=1.0))
        await until(lambda: worker.is_serving, "the worker serving")
        await asyncio.sleep(0.1)  # the endpoints are subscribed once serve has logged
        finishing = await open_stream(client, {"text": "a b c", "delay_ms": 200})
        held = await open_stream(client, {"text": "a b", "behavior": "hold"})
        assert kind(await finishing.next()) == "chunk"
        assert kind(await held.next()) == "chunk"
        worker.stop()
        finished = without_heartbeats(await finishing.rest())
        cut = without_heartbeats(await held.rest())
        await asyncio.wait_for(serving, 5)
    finally:
        await client.close()
        await nc.close()
    assert [(kind(m), m.data) for m in finished] == [
        ("chunk", b'{"text":"b "}'),
        ("chunk", b'{"text":"c "}'),
        ("end", b""),
    ]
    [error] = cut
    assert kind(error) == "error"
    assert error_of(error)[0] == "busy"


async def test_stats_count_a_stream_in_flight(client: Client, serve) -> None:
    worker = build_worker(name="tokens-stats")
    async with serve(worker):
        held = await open_stream(client, {"text": "a b", "behavior": "hold"})
        await held.next()
        during = await client.request("$SRV.STATS.tokens-stats", b"", timeout=5)
        worker.journal.release.set()
        await held.rest()
        await whole_stream(client, {"text": "a b", "behavior": "fail"})
        after = await client.request("$SRV.STATS.tokens-stats", b"", timeout=5)
    [during_stats] = json.loads(during.data)["endpoints"]
    [after_stats] = json.loads(after.data)["endpoints"]
    assert during_stats["data"] == {"inflight": 1}
    assert (after_stats["num_requests"], after_stats["num_errors"]) == (2, 1)
    assert after_stats["last_error"] == "tokens_failed: failed before token 2"


# Registration: a stream contract takes a generator, a sync contract does not.


def test_a_stream_contract_needs_a_generator() -> None:
    worker = Worker(contracts_dir=TEST_CONTRACTS)

    def returns(request):
        return {"text": "x"}

    async def returns_async(request):
        return {"text": "x"}

    for function in (returns, returns_async):
        with pytest.raises(TypeError, match=r"is not a generator, but tokens/v1 is a stream"):
            worker.handler("tokens", version=1)(function)


def test_a_sync_contract_refuses_a_generator() -> None:
    worker = Worker(contracts_dir=TEST_CONTRACTS)

    def yields(request):
        yield {"text": "x"}

    async def yields_async(request):
        yield {"text": "x"}

    for function in (yields, yields_async):
        with pytest.raises(TypeError, match=r"is a generator, but echo/v1 is a sync contract"):
            worker.handler("echo", version=1)(function)


def test_a_generator_cannot_ask_for_the_process_pool() -> None:
    worker = Worker(contracts_dir=TEST_CONTRACTS)

    def yields(request):
        yield {"text": "x"}

    with pytest.raises(TypeError, match="runs in the thread pool"):
        worker.handler("tokens", version=1, pool="process")(yields)
    assert worker.handler("tokens", version=1, pool="thread")(yields) is yields


# Offline: TestClient runs a stream through the same path, into a list.


class Token(BaseModel):
    text: str


@pytest.fixture
def typed() -> Worker:
    worker = Worker(name="typed-tokens", contracts_dir=TEST_CONTRACTS)

    @worker.handler("tokens", version=1)
    async def words(request: dict[str, Any]) -> AsyncIterator[Token]:
        for word in request["text"].split():
            yield Token(text=word.upper())

    return worker


def test_offline_stream_returns_the_checked_chunks(typed: Worker) -> None:
    client = TestClient(typed)
    assert client.stream("tokens", {"text": "a b"}) == [{"text": "A"}, {"text": "B"}]
    # call() merges them, as the gateway does for Accept: application/json.
    assert client.call("tokens", {"text": "a b"}) == {"text": "AB"}
    with pytest.raises(ValueError, match=r"echo/v1 is a sync contract: use call\(\)"):
        TestClient(build_echo_worker()).stream("echo", {"text": "x"})


def test_offline_stream_failures_carry_the_chunks_sent_before() -> None:
    worker = build_worker(threaded=True)
    client = TestClient(worker)
    with pytest.raises(CallError) as raised:
        client.stream(
            "tokens", {"text": "a b c", "behavior": "bad_chunk"}, headers={HEADER_REQUEST_ID: "b"}
        )
    assert raised.value.code == "invalid_reply"
    assert raised.value.chunks == [{"text": "a "}]
    assert raised.value.violations[0]["instancePath"] == "/text"
    # The generator was closed, in the pool, before stream() returned.
    assert worker.journal.of("b")[-1] == "closed"
    assert worker.journal.closed_in["b"].startswith("notebridge-tokens")
    with pytest.raises(CallError) as raised:
        client.stream("tokens", {"text": "a b c d", "delay_ms": 400}, timeout=0.6)
    assert raised.value.code == "deadline_exceeded"
    assert raised.value.chunks == [{"text": "a "}, {"text": "b "}]
    with pytest.raises(CallError, match="tokens_failed"):
        client.call("tokens", {"text": "a b", "behavior": "fail_first"})


def test_offline_examples_compare_the_merged_chunks() -> None:
    worker = Worker(name="shouting", contracts_dir=TEST_CONTRACTS)

    @worker.handler("tokens", version=1)
    def shout(request):
        for word in request["text"].split():
            yield {"text": word.upper() + " "}

    assert [str(r) for r in TestClient(build_worker()).run_examples()] == [
        "PASS tokens/v1 'two words'"
    ]
    [result] = TestClient(worker).run_examples()
    assert not result.passed
    assert result.problem == (
        "the reply differs from the example's response\n"
        '  expected {"text":"hello world "}\n'
        '       got {"text":"HELLO WORLD "}'
    )


def test_offline_a_service_error_raised_by_a_generator_keeps_its_code() -> None:
    worker = Worker(name="refusing", contracts_dir=TEST_CONTRACTS)

    @worker.handler("tokens", version=1)
    def refuses(request):
        yield {"text": "a"}
        raise ServiceError("quota_exceeded", "no more tokens today")

    with pytest.raises(CallError) as raised:
        TestClient(worker).stream("tokens", {"text": "a"})
    assert (raised.value.code, raised.value.message) == ("quota_exceeded", "no more tokens today")
    assert raised.value.chunks == [{"text": "a"}]
