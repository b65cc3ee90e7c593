"""Validate-and-repair end to end: the gateway binary, NATS, a Python worker whose replies
break a check, and the attempts and summed usage the client sees (docs/repair.md)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import nats
import pytest

from notebridge_worker.testing import TestClient, run_nats_server

from .conftest import (
    GATEWAY_BIN,
    JSON,
    REPO,
    Gateway,
    events,
    start_gateway,
    start_worker,
    stop,
    wait_until,
)

PROCESS = "Receive the order, then check the stock, then pack the parcel, then ship it."

LABELLER = textwrap.dedent(
    """
    from notebridge_worker import Worker

    worker = Worker(name="labeller")


    @worker.handler("label")
    def label(request, context):
        context.report_usage(model="m-1", input_tokens=60, output_tokens=40, cost=0.25)
        return {"label": request["text"]}


    @worker.check("label")
    def not_a_stopword(reply):
        if reply["label"] in ("the", "and"):
            yield "/label", f"{reply['label']!r} is a stopword"
    """
)


def write_label_contract(directory: Path) -> None:
    (directory / "schemas").mkdir(parents=True)
    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    (directory / "schemas" / "request.json").write_text(json.dumps(schema))
    (directory / "schemas" / "response.json").write_text(
        json.dumps({"type": "object", "properties": {"label": {"type": "string"}}})
    )
    manifest = {
        "name": "label",
        "version": 1,
        "mode": "sync",
        "timeout_seconds": 5,
        "request_schema": "schemas/request.json",
        "response_schema": "schemas/response.json",
        "repair": {"max_attempts": 4},
        "examples": [{"name": "a word", "request": {"text": "cat"}}],
    }
    (directory / "label.v1.json").write_text(json.dumps(manifest))


@pytest.fixture
def flowchart_gateway(tmp_path: Path) -> Iterator[Gateway]:
    gw = start_gateway(tmp_path, contracts_dir=REPO / "contracts")
    worker = start_worker(
        gw.nats_url, "examples/flowchart.py:worker", contracts_dir=REPO / "contracts"
    )
    try:
        wait_until(lambda: gw.workers("flowchart", 1) >= 1, "flowchart worker discovered")
        yield gw
    finally:
        stop(worker)
        stop(gw.proc)


@pytest.fixture
def label_gateway(tmp_path: Path) -> Iterator[Gateway]:
    contracts = tmp_path / "contracts"
    write_label_contract(contracts)
    (tmp_path / "labeller.py").write_text(LABELLER)
    gw = start_gateway(tmp_path, contracts_dir=contracts)
    worker = start_worker(
        gw.nats_url, f"{tmp_path / 'labeller.py'}:worker", contracts_dir=contracts
    )
    try:
        wait_until(lambda: gw.workers("label", 1) >= 1, "labeller discovered")
        yield gw
    finally:
        stop(worker)
        stop(gw.proc)


async def micro_stats(nats_url: str, service: str) -> dict:
    nc = await nats.connect(nats_url)
    try:
        reply = await nc.request(f"$SRV.STATS.{service}", b"", timeout=5)
    finally:
        await nc.close()
    return json.loads(reply.data)


def metric(gw: Gateway, name: str, **labels: str) -> float:
    text = httpx.get(f"{gw.url}/metrics", timeout=5).text
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match[1].split(","))) == wanted:
            return float(match[2])
    return 0.0


def test_the_flowchart_is_repaired_and_every_attempt_is_paid_for(flowchart_gateway) -> None:
    gw = flowchart_gateway
    resp = httpx.post(
        f"{gw.url}/api/flowchart/v1", content=json.dumps({"process": PROCESS}), headers=JSON
    )
    assert resp.status_code == 200, resp.text
    chart = resp.json()["mermaid"]
    assert "s3 --> s4" in chart
    assert "s4 --> s1" not in chart  # the first attempt's cycle is gone
    assert resp.headers["notebridge-attempts"] == "2"
    # The offline TestClient runs the same deterministic worker: the same two attempts.
    sys.path.insert(0, str(REPO / "python-worker" / "examples"))
    import flowchart

    offline = TestClient(flowchart.worker).exchange("flowchart", {"process": PROCESS})
    assert [usage.attempt for usage in offline.usage] == [1, 2]
    assert int(resp.headers["notebridge-input-tokens"]) == sum(
        usage.input_tokens for usage in offline.usage
    )
    assert int(resp.headers["notebridge-output-tokens"]) == sum(
        usage.output_tokens for usage in offline.usage
    )
    assert float(resp.headers["notebridge-cost"]) == pytest.approx(
        sum(usage.cost for usage in offline.usage)
    )
    labels = {"contract": "flowchart", "version": "1"}
    assert metric(gw, "notebridge_repair_outcomes_total", **labels, outcome="repaired") == 1
    # The worker counts the same in its NATS micro stats (nats micro stats flowchart).
    [endpoint] = asyncio.run(micro_stats(gw.operator_url, "flowchart"))["endpoints"]
    assert endpoint["data"] == {
        "inflight": 0,
        "handler_runs": 2,
        "repair_outcomes": {"repaired": 1},
    }
    assert metric(gw, "notebridge_handler_attempts_total", **labels) == 2
    model = {**labels, "model": "stand-in-flowchart-1"}
    assert metric(gw, "notebridge_tokens_total", **model, direction="input") == int(
        resp.headers["notebridge-input-tokens"]
    )
    assert metric(gw, "notebridge_cost_total", **model) == pytest.approx(
        float(resp.headers["notebridge-cost"])
    )


def test_a_reply_that_cannot_be_repaired_is_502_with_its_violations_and_cost(
    label_gateway,
) -> None:
    gw = label_gateway
    resp = httpx.post(f"{gw.url}/api/label/v1", content=json.dumps({"text": "the"}), headers=JSON)
    assert resp.status_code == 502, resp.text
    body = resp.json()
    assert body["type"] == "urn:notebridge:problem:invalid-reply"
    # The same violation twice: no progress, so two attempts of the four allowed.
    assert "after 2 attempt(s), stopped as no progress" in body["detail"]
    assert [(v["instancePath"], v["keyword"]) for v in body["errors"]] == [
        ("/label", "not_a_stopword")
    ]
    assert resp.headers["notebridge-attempts"] == "2"
    assert resp.headers["notebridge-cost"] == "0.5"
    assert resp.headers["notebridge-input-tokens"] == "120"
    labels = {"contract": "label", "version": "1"}
    assert metric(gw, "notebridge_repair_outcomes_total", **labels, outcome="unrepaired") == 1

    ok = httpx.post(f"{gw.url}/api/label/v1", content=json.dumps({"text": "cat"}), headers=JSON)
    assert (ok.status_code, ok.json()) == (200, {"label": "cat"})
    assert ok.headers["notebridge-attempts"] == "1"
    assert ok.headers["notebridge-cost"] == "0.25"
    assert metric(gw, "notebridge_repair_outcomes_total", **labels, outcome="first_attempt") == 1


PRICED = textwrap.dedent(
    """
    from notebridge_worker import Worker

    worker = Worker(name="priced")


    @worker.handler("label")
    def label(request, context):
        context.report_usage(model="m-1", input_tokens=7, output_tokens=3, cost=0.05)
        return {"label": request["text"]}
    """
)


def keys_create(nats_url: str, *args: str) -> str:
    out = subprocess.run(
        [str(GATEWAY_BIN), "keys", "create", "-nats-url", nats_url, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return out.stdout.strip()


def test_a_budget_holds_across_two_gateways_and_usage_adds_up(tmp_path: Path) -> None:
    contracts = tmp_path / "contracts"
    write_label_contract(contracts)
    (tmp_path / "priced.py").write_text(PRICED)
    with run_nats_server(GATEWAY_BIN) as nats_url:
        gateways = [
            start_gateway(tmp_path, "--auth", "keys", nats_url=nats_url, contracts_dir=contracts)
            for _ in range(2)
        ]
        worker = start_worker(nats_url, f"{tmp_path / 'priced.py'}:worker", contracts_dir=contracts)
        try:
            # A budget for twenty calls of 0.05; the gateways know a call's cost once one
            # is made, so the first call runs alone.
            team = keys_create(
                nats_url, "-name", "team", "-contracts", "*", "-budget", "cost=1,per=day"
            )
            owner = keys_create(nats_url, "-name", "owner", "-contracts", "*", "-usage-reader")
            bearer = {**JSON, "Authorization": f"Bearer {team}"}

            def call(gw: Gateway) -> httpx.Response:
                body = json.dumps({"text": "cat"})
                return httpx.post(
                    f"{gw.url}/api/label/v1", content=body, headers=bearer, timeout=15
                )

            for gw in gateways:
                wait_until(lambda gw=gw: call(gw).status_code == 200, "the key and the worker")
            with ThreadPoolExecutor(max_workers=32) as pool:
                answers = list(pool.map(call, [gateways[i % 2] for i in range(100)]))
            statuses = Counter(resp.status_code for resp in answers)
            assert set(statuses) == {200, 402}, statuses
            assert statuses[200] == 18, statuses  # two calls before: twenty in all
            refused = next(resp for resp in answers if resp.status_code == 402)
            problem = refused.json()
            assert problem["type"] == "urn:notebridge:problem:budget-exhausted"
            assert problem["budget"] == "cost=1,per=day"
            assert int(refused.headers["retry-after"]) > 0

            # The ledger adds up every call that ran, across both replicas.
            admitted = 2 + statuses[200]
            reader = {"Authorization": f"Bearer {owner}"}

            def report() -> dict:
                return httpx.get(
                    f"{gateways[0].url}/usage?group_by=key,model", headers=reader, timeout=5
                ).json()

            wait_until(lambda: report()["total"]["calls"] == admitted, "every call in the ledger")
            total = report()["total"]
            assert total["cost"] == pytest.approx(0.05 * admitted)
            assert total["cost"] <= 1 + 0.05
            assert total["input_tokens"] == 7 * admitted
            [group] = report()["groups"]
            assert group["model"] == "m-1"
            # A key that is not a usage reader sees its own usage, and no other key's.
            own = httpx.get(
                f"{gateways[1].url}/usage", headers={"Authorization": f"Bearer {team}"}, timeout=5
            )
            assert own.status_code == 200
            assert own.json()["total"]["calls"] == admitted
            other = httpx.get(
                f"{gateways[1].url}/usage?key=000000000000",
                headers={"Authorization": f"Bearer {team}"},
                timeout=5,
            )
            assert other.status_code == 403
        finally:
            stop(worker)
            for gw in gateways:
                stop(gw.proc)


SPELLER = textwrap.dedent(
    """
    from notebridge_worker import Worker

    worker = Worker(name="speller")


    def words(request, context):
        context.report_usage(model="m-1", output_tokens=len(request["words"]), cost=0.01)
        # A repair attempt drops the words the check named.
        told = context.repair.violations if context.repair else []
        bad = {v["message"].split("'")[1] for v in told}
        for word in request["words"]:
            if word not in bad:
                yield {"word": word + " "}


    def no_stopwords(chunks):
        for number, chunk in enumerate(chunks):
            if chunk["word"].strip() in ("the", "and"):
                yield f"/{number}/word", f"'{chunk['word'].strip()}' is a stopword"


    for name in ("buffered", "judged"):
        worker.add_handler(name, words)
        worker.check(name)(no_stopwords)
    """
)


def write_stream_contracts(directory: Path) -> None:
    (directory / "schemas").mkdir(parents=True)
    (directory / "schemas" / "request.json").write_text(
        json.dumps({"type": "object", "properties": {"words": {"type": "array"}}})
    )
    (directory / "schemas" / "chunk.json").write_text(
        json.dumps({"type": "object", "properties": {"word": {"type": "string"}}})
    )
    (directory / "schemas" / "reply.json").write_text(json.dumps({"type": "object"}))
    for name, repair in (
        ("buffered", {"stream": "buffer", "max_attempts": 3}),
        ("judged", {"stream": "verdict"}),
    ):
        manifest = {
            "name": name,
            "version": 1,
            "mode": "stream",
            "timeout_seconds": 5,
            "request_schema": "schemas/request.json",
            "chunk_schema": "schemas/chunk.json",
            "response_schema": "schemas/reply.json",
            "merge": {"concat": "word"},
            "repair": repair,
            "examples": [{"name": "two", "request": {"words": ["a", "b"]}}],
        }
        (directory / f"{name}.v1.json").write_text(json.dumps(manifest))


def test_streams_are_buffered_until_they_pass_or_judged_at_their_end(tmp_path: Path) -> None:
    contracts = tmp_path / "contracts"
    write_stream_contracts(contracts)
    (tmp_path / "speller.py").write_text(SPELLER)
    gw = start_gateway(tmp_path, contracts_dir=contracts)
    worker = start_worker(gw.nats_url, f"{tmp_path / 'speller.py'}:worker", contracts_dir=contracts)
    body = json.dumps({"words": ["a", "the", "cat"]})
    try:
        wait_until(lambda: gw.workers("judged", 1) >= 1, "the speller")
        # Buffered: the first attempt's chunks never leave the worker; the client gets the
        # repaired ones, and the end says what the two attempts took.
        with httpx.stream("POST", f"{gw.url}/api/buffered/v1", content=body, headers=JSON) as resp:
            assert resp.status_code == 200
            got = list(events(resp))
        assert [e["data"] for e in got if e["event"] == "chunk"] == [
            '{"word":"a "}',
            '{"word":"cat "}',
        ]
        end = json.loads(got[-1]["data"])
        assert end == {
            "chunks": 2,
            "attempts": 2,
            "usage": {"input_tokens": 0, "output_tokens": 6, "cost": 0.02},
        }
        merged = httpx.post(
            f"{gw.url}/api/buffered/v1",
            content=body,
            headers={**JSON, "Accept": "application/json"},
        )
        assert merged.json() == {"word": "a cat "}
        assert merged.headers["notebridge-attempts"] == "2"

        # Judged: every chunk goes out as it comes; the end carries the verdict.
        with httpx.stream("POST", f"{gw.url}/api/judged/v1", content=body, headers=JSON) as resp:
            assert resp.status_code == 200
            got = list(events(resp))
        assert len([e for e in got if e["event"] == "chunk"]) == 3
        end = json.loads(got[-1]["data"])
        assert end["verdict"] == {
            "valid": False,
            "violations": [
                {
                    "instancePath": "/1/word",
                    "keyword": "no_stopwords",
                    "message": "'the' is a stopword",
                }
            ],
        }
        assert end["attempts"] == 1
        # Merged, a reply the checks refused is not delivered.
        refused = httpx.post(
            f"{gw.url}/api/judged/v1", content=body, headers={**JSON, "Accept": "application/json"}
        )
        assert refused.status_code == 502
        assert refused.json()["errors"][0]["keyword"] == "no_stopwords"
        fine = httpx.post(
            f"{gw.url}/api/judged/v1",
            content=json.dumps({"words": ["a", "cat"]}),
            headers={**JSON, "Accept": "application/json"},
        )
        assert (fine.status_code, fine.json()) == (200, {"word": "a cat "})
    finally:
        stop(worker)
        stop(gw.proc)
