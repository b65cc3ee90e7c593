"""Validate-and-repair in the SDK: checks, repair attempts, their stopping rules, and usage."""

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import PYTHON_WORKER, REPO_CONTRACTS

from notebridge_worker import Repair, RequestContext, ServiceError, Usage, Worker
from notebridge_worker.contracts import ContractError
from notebridge_worker.testing import CallError, TestClient

sys.path.insert(0, str(PYTHON_WORKER / "examples"))
import flowchart


def contracts(tmp_path: Path, repair: dict[str, Any] | None) -> Path:
    """A contract ``label/v1``: a request {text}, a reply {label} of 1 to 8 lower-case letters."""
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "request.json").write_text(
        json.dumps({"type": "object", "properties": {"text": {"type": "string"}}})
    )
    (tmp_path / "schemas" / "response.json").write_text(
        json.dumps(
            {
                "type": "object",
                "required": ["label"],
                "additionalProperties": False,
                "properties": {"label": {"type": "string", "pattern": "^[a-z]{1,8}$"}},
            }
        )
    )
    manifest = {
        "name": "label",
        "version": 1,
        "mode": "sync",
        "timeout_seconds": 5,
        "request_schema": "schemas/request.json",
        "response_schema": "schemas/response.json",
        "examples": [{"name": "one", "request": {"text": "x"}}],
    }
    if repair is not None:
        manifest["repair"] = repair
    (tmp_path / "label.v1.json").write_text(json.dumps(manifest))
    return tmp_path


def labeller(directory: Path, replies: list[Any], seen: list[RequestContext]) -> Worker:
    """A worker whose handler answers ``replies`` in turn, reporting 100 tokens per call."""
    worker = Worker(name="labeller", contracts_dir=directory)

    @worker.handler("label")
    def label(request: dict[str, Any], context: RequestContext) -> Any:
        seen.append(context)
        context.report_usage(model="m", input_tokens=60, output_tokens=40, cost=0.25)
        reply = replies[min(context.reply_attempt, len(replies)) - 1]
        if isinstance(reply, Exception):
            raise reply
        return reply

    @worker.check("label")
    def not_a_stopword(reply: dict[str, Any], request: dict[str, Any]) -> list[tuple[str, str]]:
        if reply["label"] in ("the", "and"):
            return [("/label", f"{reply['label']!r} is a stopword")]
        return []

    return worker


def test_the_flowchart_example_is_repaired_on_its_second_attempt() -> None:
    client = TestClient(flowchart.worker)
    process = "Receive the order, then check the stock, then pack the parcel, then ship it."
    got = client.exchange("flowchart", {"process": process})
    assert got.attempts == 2
    assert "s4 --> s1" not in got.value["mermaid"]
    assert flowchart.find_cycle(flowchart.parse(got.value["mermaid"])) is None
    assert [usage.attempt for usage in got.usage] == [1, 2]
    assert all(usage.model == "stand-in-flowchart-1" and usage.cost > 0 for usage in got.usage)
    assert got.headers["Nb-Attempts"] == "2"
    assert json.loads(got.headers["Nb-Usage"])[1]["attempt"] == 2


@pytest.mark.parametrize(
    ("name", "mermaid", "want"),
    [
        ("a chain", "flowchart TD\n  a[A]\n  b[B]\n  a --> b", []),
        (
            "a diamond",
            "flowchart LR\n  a[A]\n  b[B]\n  c[C]\n  d[D]\n  a --> b\n  a --> c\n"
            "  b --> d\n  c --> d",
            [],
        ),
        (
            "a cycle",
            "flowchart TD\n  a[A]\n  b[B]\n  a --> b\n  b --> a",
            [("acyclic", "edge b --> a closes the cycle a -> b -> a")],
        ),
        (
            "a self-loop",
            "flowchart TD\n  a[A]\n  a --> a",
            [("acyclic", "edge a --> a closes the cycle a -> a")],
        ),
        (
            "an undeclared node",
            "flowchart TD\n  a[A]\n  a --> z",
            [("edges_join_declared_steps", "edge a --> z names z, which is not declared")],
        ),
        (
            "a line that is not Mermaid",
            "flowchart TD\n  a[A]\n  a -> b",
            [("parses", "line 3 is not `id[label]` nor `a --> b`: '  a -> b'")],
        ),
        (
            "a wrong header",
            "graph TD\n  a[A]",
            [("parses", "line 1 is not `id[label]` nor `a --> b`: 'graph TD'")],
        ),
    ],
)
def test_the_flowchart_checks_judge_graphs(
    name: str, mermaid: str, want: list[tuple[str, str]]
) -> None:
    reply = {"mermaid": mermaid, "steps": len(flowchart.parse(mermaid).nodes)}
    found = [
        (violation["keyword"], violation["message"])
        for check in flowchart.worker._checks["flowchart/v1"]
        for violation in check.run(reply, {})
    ]
    assert found == want, name


def test_the_handler_sees_the_previous_output_and_the_violations(tmp_path: Path) -> None:
    seen: list[RequestContext] = []
    replies = [{"label": "The"}, {"label": "the"}, {"label": "cat"}]
    worker = labeller(contracts(tmp_path, {"max_attempts": 3}), replies, seen)
    got = TestClient(worker).exchange("label", {"text": "the cat"})
    assert got.value == {"label": "cat"}
    assert got.attempts == 3
    assert [context.reply_attempt for context in seen] == [3, 3, 3]  # one context, three calls
    repair = seen[-1].repair
    assert repair is not None
    assert (repair.attempt, repair.max_attempts) == (3, 3)
    assert repair.previous_output == {"label": "the"}
    assert [(v["instancePath"], v["keyword"]) for v in repair.violations] == [
        ("/label", "not_a_stopword")
    ]
    assert repair.feedback() == "- label: 'the' is a stopword at /label (not_a_stopword)"


def test_a_schema_violation_is_repaired_too(tmp_path: Path) -> None:
    seen: list[RequestContext] = []
    worker = labeller(
        contracts(tmp_path, {"max_attempts": 2}), [{"lbl": "x"}, {"label": "x"}], seen
    )
    got = TestClient(worker).exchange("label", {"text": "x"})
    assert (got.value, got.attempts) == ({"label": "x"}, 2)
    assert {v["keyword"] for v in seen[0].repair.violations} == {"required", "additionalProperties"}


@pytest.mark.parametrize(
    ("repair", "replies", "attempts", "stopped"),
    [
        (
            {"max_attempts": 3},
            [{"label": "the"}, {"label": "and"}, {"label": "THE"}],
            3,
            "max_attempts 3 reached",
        ),
        (
            {"max_attempts": 5},
            [{"label": "the"}, {"label": "and"}, {"label": "and"}, {"label": "cat"}],
            3,
            "no progress (the same violations twice)",
        ),
        (
            {"max_attempts": 5, "max_tokens": 200},
            [{"label": "the"}, {"label": "and"}],
            2,
            "max_tokens 200 spent",
        ),
        (
            {"max_attempts": 5, "max_cost": 0.5},
            [{"label": "the"}, {"label": "and"}],
            2,
            "max_cost 0.5 spent",
        ),
    ],
    ids=["attempts", "no progress", "tokens", "cost"],
)
def test_repair_stops(
    tmp_path: Path, repair: dict[str, Any], replies: list[Any], attempts: int, stopped: str
) -> None:
    seen: list[RequestContext] = []
    worker = labeller(contracts(tmp_path, repair), replies, seen)
    with pytest.raises(CallError) as raised:
        TestClient(worker).exchange("label", {"text": "x"})
    error = raised.value
    assert error.code == "invalid_reply"
    assert error.attempts == attempts
    assert len(seen) == attempts
    assert f"after {attempts} attempt(s), stopped as {stopped}:" in error.message
    assert error.violations, "the last attempt's violations"
    # Every attempt is accounted for, not only the last.
    assert [usage.attempt for usage in error.usage] == list(range(1, attempts + 1))


def test_without_repair_a_check_failure_is_an_invalid_reply_at_once(tmp_path: Path) -> None:
    seen: list[RequestContext] = []
    worker = labeller(contracts(tmp_path, None), [{"label": "the"}, {"label": "cat"}], seen)
    with pytest.raises(CallError) as raised:
        TestClient(worker).exchange("label", {"text": "x"})
    assert raised.value.code == "invalid_reply"
    assert raised.value.attempts is None  # no Nb-Attempts without repair
    assert [v["keyword"] for v in raised.value.violations] == ["not_a_stopword"]
    assert [usage.attempt for usage in raised.value.usage] == [1]
    assert len(seen) == 1


def test_a_handler_error_on_a_repair_attempt_ends_it_with_every_attempts_usage(
    tmp_path: Path,
) -> None:
    seen: list[RequestContext] = []
    replies = [{"label": "the"}, ServiceError("model_down", "the model went away")]
    worker = labeller(contracts(tmp_path, {"max_attempts": 3}), replies, seen)
    with pytest.raises(CallError) as raised:
        TestClient(worker).exchange("label", {"text": "x"})
    assert (raised.value.code, raised.value.attempts) == ("model_down", 2)
    assert [usage.attempt for usage in raised.value.usage] == [1, 2]


def test_a_check_that_raises_is_an_internal_error_without_its_traceback(tmp_path: Path) -> None:
    worker = labeller(contracts(tmp_path, {"max_attempts": 3}), [{"label": "cat"}], [])

    @worker.check("label")
    def broken(reply: dict[str, Any]) -> list[str]:
        raise RuntimeError("secret detail")

    with pytest.raises(CallError) as raised:
        TestClient(worker).call("label", {"text": "x"})
    assert raised.value.code == "internal"
    assert "secret" not in raised.value.message
    assert "check broken" in raised.value.message


@pytest.mark.parametrize(
    ("check", "problem"),
    [
        (lambda: None, "must take the reply"),
        (lambda reply, request, extra: None, "must take the reply"),
    ],
)
def test_a_check_of_the_wrong_shape_fails_at_registration(
    tmp_path: Path, check: Any, problem: str
) -> None:
    worker = Worker(name="w", contracts_dir=contracts(tmp_path, None))
    with pytest.raises(TypeError, match=problem):
        worker.check("label")(check)


def test_an_async_check_or_an_unknown_contract_fails_at_registration(tmp_path: Path) -> None:
    worker = Worker(name="w", contracts_dir=contracts(tmp_path, None))

    async def later(reply: Any) -> list[str]:
        return []

    with pytest.raises(TypeError, match="is async"):
        worker.check("label")(later)
    with pytest.raises(ContractError, match="no contract nope/v1"):
        worker.check("nope")(lambda reply: [])


def test_a_check_returning_a_bad_pointer_is_an_internal_error(tmp_path: Path) -> None:
    worker = labeller(contracts(tmp_path, None), [{"label": "cat"}], [])
    worker.check("label", name="sloppy")(lambda reply: [("label", "no slash")])
    with pytest.raises(CallError) as raised:
        TestClient(worker).call("label", {"text": "x"})
    assert raised.value.code == "internal"


@pytest.mark.parametrize(
    "report",
    [
        {"input_tokens": -1},
        {"output_tokens": 1.5},
        {"input_tokens": True},
        {"cost": float("nan")},
        {"cost": -0.01},
        {"model": 3},
    ],
)
def test_a_bad_usage_report_is_refused(report: dict[str, Any]) -> None:
    context = RequestContext(request_id="r", deadline=0, contract="c", version=1)
    with pytest.raises(ValueError, match="must be"):
        context.report_usage(**report)
    assert context.usage == []


def test_usage_reports_are_kept_per_attempt() -> None:
    context = RequestContext(request_id="r", deadline=0, contract="c", version=1)
    context.report_usage(model="a", input_tokens=3, output_tokens=4, cost=0.5)
    context.reply_attempt = 2
    context.report_usage(model="b", output_tokens=1)
    assert context.usage == [Usage(1, "a", 3, 4, 0.5), Usage(2, "b", 0, 1, 0.0)]
    assert context.spent() == (8, 0.5)


def test_the_example_contracts_load_with_their_repair_policy() -> None:
    worker = Worker(name="w", contracts_dir=REPO_CONTRACTS)
    policy = worker.contracts["flowchart/v1"].repair
    assert policy is not None
    assert (policy.max_attempts, policy.max_cost) == (3, 0.05)


def stream_contracts(tmp_path: Path, repair: dict[str, Any]) -> Path:
    """A stream contract ``spell/v1``: chunks {word} of lower-case letters, merged by concat."""
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "request.json").write_text(json.dumps({"type": "object"}))
    (tmp_path / "schemas" / "chunk.json").write_text(
        json.dumps(
            {
                "type": "object",
                "required": ["word"],
                "properties": {"word": {"type": "string", "pattern": "^[a-z]+$"}},
            }
        )
    )
    (tmp_path / "schemas" / "reply.json").write_text(json.dumps({"type": "object"}))
    manifest = {
        "name": "spell",
        "version": 1,
        "mode": "stream",
        "timeout_seconds": 5,
        "request_schema": "schemas/request.json",
        "chunk_schema": "schemas/chunk.json",
        "response_schema": "schemas/reply.json",
        "merge": {"concat": "word"},
        "repair": repair,
        "examples": [{"name": "one", "request": {}}],
    }
    (tmp_path / "spell.v1.json").write_text(json.dumps(manifest))
    return tmp_path


def speller(directory: Path, attempts: list[list[str]], seen: list[Repair | None]) -> Worker:
    """A stream worker that yields the words of ``attempts`` in turn, noting what each attempt
    was told in ``seen``, and a check that no word comes twice."""
    worker = Worker(name="speller", contracts_dir=directory)

    @worker.handler("spell")
    def spell(request: dict[str, Any], context: RequestContext) -> Any:
        seen.append(context.repair)
        context.report_usage(model="m", output_tokens=1)
        for word in attempts[min(context.reply_attempt, len(attempts)) - 1]:
            yield {"word": word}

    @worker.check("spell")
    def no_repeats(chunks: list[dict[str, Any]]) -> Any:
        words = [chunk["word"] for chunk in chunks]
        for number, word in enumerate(words):
            if word in words[:number]:
                yield f"/{number}/word", f"{word!r} comes twice"

    return worker


def test_a_buffered_stream_sends_only_the_chunks_that_passed(tmp_path: Path) -> None:
    seen: list[Repair | None] = []
    worker = speller(
        stream_contracts(tmp_path, {"stream": "buffer", "max_attempts": 3}),
        [["a", "a"], ["a", "B"], ["a", "b"]],
        seen,
    )
    client = TestClient(worker)
    assert client.stream("spell", {}) == [{"word": "a"}, {"word": "b"}]
    got = client.exchange("spell", {})
    assert got.value == [{"word": "a"}, {"word": "b"}]
    assert got.attempts == 3
    assert [usage.attempt for usage in got.usage] == [1, 2, 3]
    # The first attempt repeated a word, the second broke the chunk schema: the second and
    # third attempts were told so.
    first, second, third = seen[-3:]
    assert first is None
    assert second is not None
    assert second.previous_output == [{"word": "a"}, {"word": "a"}]
    assert [(v["instancePath"], v["keyword"]) for v in second.violations] == [
        ("/1/word", "no_repeats")
    ]
    assert third is not None
    assert third.previous_output == [{"word": "a"}]  # chunk 2 never made it
    assert [(v["instancePath"], v["keyword"]) for v in third.violations] == [("/1/word", "pattern")]


def test_a_buffered_stream_that_cannot_be_repaired_sends_no_chunk(tmp_path: Path) -> None:
    worker = speller(
        stream_contracts(tmp_path, {"stream": "buffer", "max_attempts": 2}),
        [["a", "a"], ["b", "b"]],
        [],
    )
    with pytest.raises(CallError) as raised:
        TestClient(worker).stream("spell", {})
    assert raised.value.code == "invalid_reply"
    assert raised.value.chunks == []
    assert "after 2 attempt(s), stopped as max_attempts 2 reached" in raised.value.message


@pytest.mark.parametrize(
    ("words", "verdict"),
    [
        (["a", "b"], {"valid": True, "violations": []}),
        (
            ["a", "b", "a"],
            {
                "valid": False,
                "violations": [
                    {
                        "instancePath": "/2/word",
                        "keyword": "no_repeats",
                        "message": "'a' comes twice",
                    }
                ],
            },
        ),
    ],
)
def test_a_verdict_stream_sends_every_chunk_and_ends_with_the_verdict(
    tmp_path: Path, words: list[str], verdict: dict[str, Any]
) -> None:
    seen: list[Repair | None] = []
    worker = speller(stream_contracts(tmp_path, {"stream": "verdict"}), [words], seen)
    got = TestClient(worker).exchange("spell", {})
    assert got.value == [{"word": word} for word in words]
    assert got.verdict == verdict
    assert len(seen) == 1  # nothing is repaired
    assert got.attempts == 1


def test_a_check_that_finds_too_much_is_cut_short(tmp_path: Path) -> None:
    worker = labeller(contracts(tmp_path, None), [{"label": "cat"}], [])
    worker.check("label", name="noisy")(lambda reply: [f"problem {n}" for n in range(5000)])
    with pytest.raises(CallError) as raised:
        TestClient(worker).call("label", {"text": "x"})
    violations = raised.value.violations
    assert len(violations) == 101
    assert violations[-1] == {
        "instancePath": "",
        "keyword": "checks",
        "message": "and 4900 more, not listed",
    }
