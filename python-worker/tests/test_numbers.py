"""Numbers and strings on the worker: the numeric domain, Unicode text, ints where the schema
says integer (docs/protocol.md, "Numbers"), through the path a served request takes."""

import inspect
import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import PYTHON_WORKER, REPO_CONTRACTS, TEST_CONTRACTS
from nats.aio.client import Client
from support import call, error_of
from test_contracts import write_contract

from notebridge_worker import Batch, Worker
from notebridge_worker.contracts import fastcheck, load_contract
from notebridge_worker.exactjson import dumps, parse
from notebridge_worker.loader import load_worker
from notebridge_worker.testing import CallError, TestClient, run_worker_process


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Worker]:
    """``example("summarize")``: the example worker of that name, on the repository's contracts."""
    monkeypatch.setenv("NOTEBRIDGE_CONTRACTS_DIR", str(REPO_CONTRACTS))
    return lambda name: load_worker(f"{PYTHON_WORKER / 'examples' / name}.py:worker")


def spying(worker: Worker, name: str) -> list[Any]:
    """Register a spy around the handler of ``name`` v1: the list gets each request it is given."""
    original = worker.routes[f"{name}/v1"].function
    seen: list[Any] = []
    if inspect.isasyncgenfunction(original):

        async def stream_spy(request: Any) -> Any:
            seen.append(request)
            async for chunk in original(request):
                yield chunk

        worker.handler(name)(stream_spy)
    else:

        def spy(request: Any) -> Any:
            seen.append(request)
            return original(request)

        worker.handler(name)(spy)
    return seen


# -- ints where the schema says integer: the examples of issue #10 ---------------------------


def test_summarize_gets_max_sentences_2_0_as_the_int_2(example: Callable[[str], Worker]) -> None:
    worker = example("summarize")
    seen = spying(worker, "summarize")
    reply = TestClient(worker).call(
        "summarize", b'{"text": "hello world. bye.", "max_sentences": 2.0}'
    )
    assert [(request["max_sentences"], type(request["max_sentences"])) for request in seen] == [
        (2, int)
    ]
    assert reply["summary"] == "hello world. bye."


def test_generate_streams_max_tokens_3_0_tokens(example: Callable[[str], Worker]) -> None:
    worker = example("generate")
    seen = spying(worker, "generate")
    chunks = TestClient(worker).stream(
        "generate", b'{"prompt": "Once", "max_tokens": 3.0, "delay_ms": 0e5}'
    )
    assert len(chunks) == 3
    assert [(type(r["max_tokens"]), type(r["delay_ms"])) for r in seen] == [(int, int)]


def test_the_report_job_lists_top_2_0_words(example: Callable[[str], Worker]) -> None:
    reply = TestClient(example("report")).call(
        "report", b'{"top": 2.0, "chunk_size": 1e2, "delay_ms": 0}'
    )
    assert {label: len(words) for label, words in reply["top_words"].items()} == {
        "negative": 2,
        "positive": 2,
    }


def test_a_batch_handler_gets_ints(tmp_path: Path) -> None:
    contracts = write_contract(
        tmp_path, {"type": "object", "properties": {"n": {"type": "integer"}}}
    )
    worker = Worker("batch", contracts)
    seen: list[Any] = []

    @worker.handler("probe", batch=Batch(max_size=4, max_wait=0.05))
    def batch(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen.extend(request["n"] for request in requests)
        return [{} for _ in requests]

    TestClient(worker).call_many("probe", [b'{"n": 1.0}', b'{"n": 2e0}', b'{"n": 3}'])
    assert sorted((n, type(n)) for n in seen) == [(1, int), (2, int), (3, int)]


OBJECT = {"type": "object", "properties": {"n": {"type": "integer"}}}


@pytest.mark.parametrize(
    ("schema", "text", "expected"),
    [
        ({"type": "integer"}, b"2.0", 2),
        ({"type": ["integer", "null"]}, b"1e2", 100),
        ({"type": ["integer", "number"]}, b"2.0", 2.0),
        ({"type": "number"}, b"2.0", 2.0),
        ({}, b"2.0", 2.0),
        # Exact, not through a float: 2**53 + 1.
        ({"type": "integer"}, b"9007199254740993.0", 9007199254740993),
        ({"type": "integer"}, b"1.5e307", 15 * 10**306),
        (OBJECT, b'{"n": 2.0, "m": 2.0}', {"n": 2, "m": 2.0}),
        (
            {"properties": {"a": {"properties": {"n": {"type": "integer"}}}}},
            b'{"a": {"n": 5E0}}',
            {"a": {"n": 5}},
        ),
        ({"items": {"type": "integer"}}, b"[1.0, 2, 3e0]", [1, 2, 3]),
        (
            {
                "prefixItems": [{"type": "number"}, {"type": "integer"}],
                "items": {"type": "integer"},
            },
            b"[1.0, 2.0, 3.0]",
            [1.0, 2, 3],
        ),
        (
            {"patternProperties": {"^i_": {"type": "integer"}}},
            b'{"i_a": 1.0, "f": 1.0}',
            {"i_a": 1, "f": 1.0},
        ),
        (
            {"properties": {"f": {}}, "additionalProperties": {"type": "integer"}},
            b'{"f": 1.0, "x": 1.0}',
            {"f": 1.0, "x": 1},
        ),
        ({"$ref": "#/$defs/count", "$defs": {"count": {"type": "integer"}}}, b"4.0", 4),
        ({"allOf": [{"minimum": 0}, {"type": "integer"}]}, b"4.0", 4),
        (
            {"allOf": [OBJECT, {"properties": {"m": {"type": "integer"}}}]},
            b'{"n": 1.0, "m": 2.0}',
            {"n": 1, "m": 2},
        ),
        # An optional integer, as pydantic writes Optional[int]: converted.
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, b"7.0", 7),
        # A branch that takes any number: left as parsed.
        ({"anyOf": [{"type": "integer"}, {"type": "number"}]}, b"7.0", 7.0),
        ({"oneOf": [{"type": "integer", "minimum": 5}, {"type": "string"}]}, b"7.0", 7),
        # An optional object: the one branch that admits objects is followed.
        ({"anyOf": [OBJECT, {"type": "null"}]}, b'{"n": 1.0}', {"n": 1}),
        # Two object branches: left as parsed rather than guessed at.
        (
            {"anyOf": [OBJECT, {"type": "object", "required": ["m"]}]},
            b'{"n": 1.0, "m": 0}',
            {"n": 1.0, "m": 0},
        ),
        # Keywords the plan does not follow leave numbers as parsed.
        ({"if": {}, "then": {"type": "integer"}}, b"3.0", 3.0),
        ({"not": {"type": "string"}, "type": "integer"}, b"3.0", 3),
    ],
    ids=lambda value: value.decode() if isinstance(value, bytes) else "",
)
def test_numbers_become_int_where_the_schema_says_integer(
    tmp_path: Path, schema: Any, text: bytes, expected: Any
) -> None:
    got = handler_argument(tmp_path, schema, text)
    assert got == expected
    assert kinds(got) == kinds(expected)


def test_a_recursive_schema_converts_at_every_depth(tmp_path: Path) -> None:
    schema = {
        "$ref": "#/$defs/tree",
        "$defs": {
            "tree": {
                "type": "object",
                "properties": {
                    "value": {"type": "integer"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/tree"}},
                },
            }
        },
    }
    text = b'{"value": 1.0, "children": [{"value": 2.0, "children": [{"value": 3e0}]}]}'
    got = handler_argument(tmp_path, schema, text)
    assert kinds(got) == kinds({"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}]})


def test_with_exact_numbers_integers_are_int_and_the_rest_decimal(tmp_path: Path) -> None:
    schema = {"properties": {"n": {"type": "integer"}, "x": {"type": "number"}}}
    got = handler_argument(tmp_path, schema, b'{"n": 2.0, "x": 2.50}', exact_numbers=True)
    assert got == {"n": 2, "x": Decimal("2.50")}
    assert (type(got["n"]), isinstance(got["x"], Decimal)) == (int, True)


def test_a_schema_that_says_integer_nowhere_has_no_plan(tmp_path: Path) -> None:
    contracts = write_contract(tmp_path, {"properties": {"x": {"type": "number"}}})
    assert load_contract(contracts / "probe.v1.json").request_integers is None


def handler_argument(tmp_path: Path, schema: Any, text: bytes, exact_numbers: bool = False) -> Any:
    contracts = write_contract(tmp_path, schema, examples=[{"name": "x", "request": parse(text)}])
    worker = Worker("numbers", contracts, exact_numbers=exact_numbers)
    seen: list[Any] = []

    @worker.handler("probe")
    def probe(request: Any) -> Any:
        seen.append(request)
        return {}

    TestClient(worker).call("probe", text)
    [argument] = seen
    return argument


def kinds(value: Any) -> Any:
    """``value`` with each number replaced by its type's name, to compare int with float."""
    if isinstance(value, dict):
        return {key: kinds(item) for key, item in value.items()}
    if isinstance(value, list):
        return [kinds(item) for item in value]
    return type(value).__name__


# -- the numeric domain ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pointer", "says"),
    [
        (b'{"text": "a", "n": 1E400}', "/n", "too large"),
        (b'{"text": "a", "n": -1e308}', "/n", "too large"),
        (b'{"text": "a", "n": 1e-310}', "/n", "too small"),
        (b'{"text": "a", "n": 1e-400}', "/n", "too small"),
        (b'{"text": "a", "n": 0e99999}', "/n", "exponent"),
        (b'{"text": "a", "n": ' + b"7" * 4301 + b"}", "/n", "4301 digits"),
        (b'{"text": "a", "n": 0.' + b"0" * 4299 + b"1}", "/n", "4301 digits"),
    ],
)
def test_a_number_outside_the_domain_is_an_invalid_request_naming_it(
    text: bytes, pointer: str, says: str
) -> None:
    with pytest.raises(CallError) as raised:
        TestClient(echo_worker()).call("echo", text)
    error = raised.value
    assert error.code == "invalid_request"
    assert "numeric domain" in error.message
    assert says in error.message
    assert f"at {pointer}" in error.message
    assert [(v["instancePath"], v["keyword"]) for v in error.violations] == [
        (pointer, "numberDomain")
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"1e-307", Decimal("1e-307")),
        (b"-9.99e307", Decimal("-9.99e307")),
        (b"0e9999", Decimal(0)),
        (b"1e2", Decimal(100)),
        (b"7" * 4300, int("7" * 4300)),
        (b"1" + b"0" * 400, 10**400),  # integers may be of any size within 4300 digits
    ],
)
def test_numbers_at_the_edges_of_the_domain_reach_the_handler_exactly(
    text: bytes, expected: Any
) -> None:
    worker = echo_worker()
    TestClient(worker).call("echo", b'{"text": "a", "n": ' + text + b"}")
    assert SEEN[-1] == expected


@pytest.mark.parametrize(
    ("reply", "pointer", "says"),
    [
        ({"text": "a", "n": 10**5000}, "/n", "more than 4300 digits"),
        ({"text": "a", "n": 1e-310}, "/n", "too small"),
        ({"text": "a", "n": Decimal("1E+400")}, "/n", "too large"),
        ({"text": "a", "n": math.inf}, "/n", "not a JSON number"),
        ({"text": "\ud800"}, "/text", "not valid Unicode text"),
    ],
    ids=["long int", "subnormal", "huge decimal", "inf", "lone surrogate"],
)
def test_a_reply_outside_the_domain_is_an_invalid_reply_naming_it(
    reply: dict[str, Any], pointer: str, says: str
) -> None:
    worker = Worker("bad-replies", TEST_CONTRACTS)

    @worker.handler("echo")
    def echo(request: Any) -> Any:
        return reply

    with pytest.raises(CallError) as raised:
        TestClient(worker).call("echo", {"text": "a"})
    error = raised.value
    assert error.code == "invalid_reply"
    assert says in error.message
    assert f"at {pointer}" in error.message
    assert [v["instancePath"] for v in error.violations] == [pointer]


def test_a_handler_never_gets_an_infinity() -> None:
    """Today's bug: 1E400 was read as inf and handed on."""
    with pytest.raises(CallError):
        TestClient(echo_worker(exact_numbers=False)).call("echo", b'{"text": "a", "n": 1E400}')
    assert SEEN == []


SEEN: list[Any] = []


def echo_worker(exact_numbers: bool = True) -> Worker:
    SEEN.clear()
    worker = Worker("numbers", TEST_CONTRACTS, exact_numbers=exact_numbers)

    @worker.handler("echo")
    def echo(request: dict[str, Any]) -> dict[str, Any]:
        SEEN.append(request.get("n"))
        return {"text": request["text"]}

    return worker


# -- Unicode text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (b'{"text": "\\ud800"}', "a lone surrogate"),
        (b'{"text": "a\\udc00b"}', "a lone surrogate"),
        (b'{"text": "a", "\\ud800": 1}', "a lone surrogate"),
        (b'{"text": "\xff"}', "invalid UTF-8"),
        (b'{"text": "\xed\xa0\x80"}', "invalid UTF-8"),  # a surrogate encoded in UTF-8 (CESU)
    ],
)
def test_text_that_is_not_valid_unicode_is_an_invalid_request(text: bytes, says: str) -> None:
    with pytest.raises(CallError) as raised:
        TestClient(echo_worker()).call("echo", text)
    assert raised.value.code == "invalid_request"
    assert "not valid Unicode text" in raised.value.message
    assert says in raised.value.message


def test_a_surrogate_pair_is_valid_text() -> None:
    TestClient(echo_worker()).call("echo", b'{"text": "\\ud83d\\ude00"}')


@pytest.fixture
def patterned(tmp_path: Path) -> Any:
    schema = {
        "type": "object",
        "properties": {"s": {"pattern": "^a"}},
        "patternProperties": {"^k": {"type": "integer"}},
        "additionalProperties": {"type": "string"},
    }
    return load_contract(write_contract(tmp_path, schema) / "probe.v1.json")


@pytest.mark.parametrize(
    ("instance", "violations"),
    [
        ({"s": "a\ud800"}, [("/s", "pattern")]),  # matches no pattern
        ({"k\ud800": 1}, [("/k\ud800", "type")]),  # not matched: additionalProperties applies
        ({"k\ud800": "x"}, []),
    ],
)
def test_validators_judge_a_lone_surrogate_without_crashing(
    patterned: Any, instance: Any, violations: list[tuple[str, str]]
) -> None:
    """Before: re2 raised UnicodeEncodeError in the fast path and in the full validator."""
    assert fastcheck.proves(patterned.request_check, instance) is (violations == [])
    found = patterned.request_violations(instance)
    assert [(v["instancePath"], v["keyword"]) for v in found] == violations


def test_fast_loads_leaves_texts_that_may_leave_the_domain_to_the_exact_path() -> None:
    for text in (b"[1e-400]", b"[0e99999]", b"[1.5e+100]", b"[1e-310]"):
        assert fastcheck.loads(text) is fastcheck.NOT_PARSED, text
    assert fastcheck.loads(b'{"n": 1.5e99, "m": -12345678}') == {"n": 1.5e99, "m": -12345678}
    assert fastcheck.dumps([1e-310]) is None
    assert fastcheck.dumps([0.0, 1e-307, 9.9e307]) == dumps([0.0, 1e-307, 9.9e307])


# -- over NATS, as a direct caller (natscli, contracts test) would send ------------------------


@pytest.fixture(scope="module")
def served_echo(nats_url: str) -> Iterator[None]:
    with run_worker_process("tests/echo_worker.py:worker", nats_url, TEST_CONTRACTS):
        yield


@pytest.mark.usefixtures("served_echo")
@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"text": "a", "n": 1E400}', "/n"),
        (b'{"text": "a", "n": ' + b"9" * 5000 + b"}", "5000 digits"),
        (b'{"text": "\\ud800"}', "not valid Unicode text"),
    ],
    ids=["1E400", "5000 digits", "lone surrogate"],
)
async def test_a_worker_process_refuses_them_as_invalid_request(
    client: Client, body: bytes, says: str
) -> None:
    reply = await call(client, "nb.echo.v1", body)
    code, message = error_of(reply) or ("", "")
    assert code == "invalid_request"
    assert says in message
    assert "not JSON" not in message


def test_a_chunk_with_a_lone_surrogate_ends_the_stream_as_an_invalid_reply() -> None:
    worker = Worker("bad-chunks", TEST_CONTRACTS)

    @worker.handler("tokens")
    async def tokens(request: Any) -> Any:
        yield {"text": "fine"}
        yield {"text": "\ud800"}

    with pytest.raises(CallError) as raised:
        TestClient(worker).stream("tokens", {"text": "a"})
    error = raised.value
    assert (error.code, error.chunks) == ("invalid_reply", [{"text": "fine"}])
    assert "chunk 2" in error.message
    assert [(v["instancePath"], v["keyword"]) for v in error.violations] == [("/text", "unicode")]
