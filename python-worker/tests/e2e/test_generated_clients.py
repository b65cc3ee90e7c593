"""The clients `make clients` generates from the OpenAPI document, used as a product app uses
them against the real gateway and the example workers; and every live response of the gateway
checked against the document they were generated from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from notebridge_worker.testing import run_worker_process

from .conftest import GATEWAY_BIN, REPO, Gateway, Postgres, events, start_gateway, stop, wait_until
from .ragstack import create_database, drop_database, rag_stack

CLIENTS = REPO / "clients"
CONTRACTS = REPO / "contracts"
EXAMPLES = REPO / "python-worker" / "examples"
WORKERS = [
    "summarize.py:worker",
    "sentiment.py:worker",
    "iris.ipynb",
    "generate.py:worker",
    "report.py:worker",
    "flowchart.py:worker",
]
MADE_BY = "made by `make clients`; run it first"

# What each example program prints, call by call: the same for both languages.
GENERATED = " upon a time, then wrote an answer on the stone pier"
EXPECTED = [
    {"call": "summarize", "status": 200, "body": "Workers join queue groups."},
    {"call": "sentiment", "status": 200, "body": "positive"},
    {"call": "iris", "status": 200, "body": "virginica"},
    {"call": "generate merged", "status": 200, "body": GENERATED},
    {
        "call": "generate stream",
        "status": 200,
        "body": {"events": 13, "last": "end", "text": GENERATED},
    },
    {"call": "report job", "status": 202, "body": {"status": "succeeded", "reviews": 40}},
    {
        "call": "answer",
        "status": 200,
        "body": {
            "attempts": "1",
            "quotes": [
                "The flysheet is rated to 3000 mm of water, so the tent stays dry in steady rain.",
                "A waterproof membrane keeps your feet dry in rain and shallow streams.",
            ],
        },
    },
    {
        "call": "embed job",
        "status": 202,
        "body": {"status": "succeeded", "outcome": "embedded", "chunks": 3},
    },
    {
        "call": "review_analysis",
        "status": 200,
        "body": {
            "completed": True,
            "sentences": ["positive", "negative"],
            "branches": ["succeeded"] * 4,
        },
    },
    {
        "call": "sentiment invalid",
        "status": 422,
        "body": {"type": "urn:notebridge:problem:invalid-request", "where": ["/text"]},
    },
]


@pytest.fixture(scope="module")
def stack(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The gateway with the shipped contracts, API keys required (as in production), and every
    example worker; the RAG example's with its database and its relay, which has a key of its
    own for embed jobs only."""
    tmp = tmp_path_factory.mktemp("clients")
    database_url = create_database(postgres, "rag_clients")
    gateway = start_gateway(tmp, "--auth", "keys", contracts_dir=CONTRACTS)
    try:
        with ExitStack() as workers:
            for target in WORKERS:
                workers.enter_context(
                    run_worker_process(
                        target, gateway.nats_url, CONTRACTS, cwd=EXAMPLES, timeout=60
                    )
                )
            relay_key = issue_key(gateway, "outbox-relay", "embed")
            workers.enter_context(rag_stack(gateway, database_url, tmp, api_key=relay_key))
            yield gateway
    finally:
        stop(gateway.proc)
        drop_database(postgres, "rag_clients")


def issue_key(gateway: Gateway, name: str, contracts: str, *extra: str) -> str:
    """A new API key, from `notebridge keys create` as an operator runs it."""
    create = ["keys", "create", "--nats-url", gateway.operator_url, "--name", name]
    token = run([str(GATEWAY_BIN), *create, "--contracts", contracts, *extra]).strip()
    assert token.startswith("nb_"), token
    # Every gateway admits a new key within moments (it watches the key bucket).
    wait_until(
        lambda: (
            httpx.post(
                f"{gateway.url}/api/sentiment/v1",
                json={"text": "?"},
                headers={"Authorization": f"Bearer {token}"},
            ).status_code
            != 401
        ),
        f"key {name} admitted",
    )
    return token


@pytest.fixture(scope="module")
def api_key(stack: Gateway) -> str:
    return issue_key(stack, "product-app", "*")


def test_a_key_bound_to_a_tenant_asks_for_it_only(stack: Gateway) -> None:
    """answer/v1 is tenant-scoped: a product backend's key bound to acme is refused, before any
    worker sees it, for globex; the CLI shows the binding."""
    token = issue_key(stack, "acme-app", "answer,sentiment", "--tenant", "acme")
    auth = {"Authorization": f"Bearer {token}"}
    question = "Will the tent keep me dry in heavy rain?"
    for tenant, status in [("acme", 200), ("globex", 403)]:
        resp = httpx.post(
            f"{stack.url}/api/answer/v1",
            json={"tenant": tenant, "question": question},
            headers=auth,
            timeout=30,
        )
        assert resp.status_code == status, resp.text
    problem = resp.json()
    assert problem["type"] == "urn:notebridge:problem:forbidden"
    assert 'bound to tenant "acme"' in problem["detail"]
    listed = run([str(GATEWAY_BIN), "keys", "list", "--nats-url", stack.operator_url])
    assert any(
        line.split()[1:2] == ["acme-app"] and " acme " in line for line in listed.splitlines()
    )


def lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def run(command: list[str], **kwargs: Any) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)
    assert done.returncode == 0, (
        f"{command[0]} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


def test_the_clients_are_generated_from_the_gateways_document(stack: Gateway) -> None:
    made_from = CLIENTS / "openapi.json"
    assert made_from.exists(), f"{made_from} is missing: {MADE_BY}"
    served = httpx.get(f"{stack.url}/openapi.json", timeout=5).json()
    assert json.loads(made_from.read_text()) == served


def test_typescript_client_calls_every_contract(stack: Gateway, api_key: str) -> None:
    program = CLIENTS / "typescript" / "dist" / "example.js"
    assert program.exists(), f"{program} is missing: {MADE_BY}"
    env = {**os.environ, "NOTEBRIDGE_API_KEY": api_key}
    assert lines(run(["node", str(program), stack.url], env=env)) == EXPECTED


def test_python_client_calls_every_contract(stack: Gateway, api_key: str) -> None:
    package = CLIENTS / "python" / "generated"
    assert (package / "notebridge_client").is_dir(), f"{package} is missing: {MADE_BY}"
    env = {**os.environ, "PYTHONPATH": str(package), "NOTEBRIDGE_API_KEY": api_key}
    output = run([sys.executable, str(CLIENTS / "python" / "example.py"), stack.url], env=env)
    assert lines(output) == EXPECTED


class Document:
    """The gateway's OpenAPI document, and a check of an answer against the response it
    documents for the operation, status and media type."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.registry = Registry().with_resource(
            "urn:openapi", Resource.from_contents(doc, default_specification=DRAFT202012)
        )

    def response(self, path: str, method: str, status: int) -> dict[str, Any]:
        responses = self.doc["paths"][path][method]["responses"]
        assert str(status) in responses, f"{method.upper()} {path} does not document {status}"
        response = responses[str(status)]
        if "$ref" in response:
            response = self.doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        return response

    def check(self, path: str, method: str, resp: httpx.Response) -> None:
        media = resp.headers["content-type"].split(";")[0]
        content = self.response(path, method, resp.status_code)["content"]
        assert media in content, f"{method.upper()} {path} {resp.status_code}: {media} undocumented"
        self.validate(content[media]["schema"], resp.json(), f"{method.upper()} {path}")

    def validate(self, schema: dict[str, Any], instance: Any, what: str) -> None:
        schema = {"$ref": "urn:openapi#" + schema["$ref"][1:]} if "$ref" in schema else schema
        errors = list(Draft202012Validator(schema, registry=self.registry).iter_errors(instance))
        assert not errors, f"{what}: {[e.message for e in errors]}\n{instance}"


def parsed(event: dict[str, str]) -> dict[str, Any]:
    """An SSE event as the document types it: its data decoded."""
    out: dict[str, Any] = {"event": event["event"], "data": json.loads(event["data"])}
    if "id" in event:
        out["id"] = event["id"]
    return out


def test_every_live_response_matches_the_document(stack: Gateway, api_key: str) -> None:
    doc = Document(httpx.get(f"{stack.url}/openapi.json", timeout=5).json())
    checked: set[str] = set()
    auth = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=stack.url, timeout=30, headers=auth) as http:

        def call(method: str, path: str, route: str | None = None, **kwargs: Any) -> httpx.Response:
            resp = http.request(method, path, **kwargs)
            if "json" in resp.headers.get("content-type", ""):
                doc.check(route or path, method.lower(), resp)
                checked.add(f"{method} {route or path} {resp.status_code}")
            return resp

        for path in ["/healthz", "/readyz", "/api", "/openapi.json"]:
            assert call("GET", path).status_code == 200
        for manifest in sorted(CONTRACTS.glob("*.json")):
            contract = json.loads(manifest.read_text())
            route = f"/api/{contract['name']}/v{contract['version']}"
            for path in (f"/api/{contract['name']}", route):
                assert call("GET", path).status_code == 200
            post = f"{route}/jobs" if contract["mode"] == "job" else route
            for example in contract["examples"]:
                resp = call(
                    "POST", post, json=example["request"], headers={"Accept": "application/json"}
                )
                assert resp.status_code in (200, 202), resp.text
            # Each problem a call can meet without breaking a worker.
            assert call("POST", post, json={"unexpected": True}).status_code == 422
            assert (
                call(
                    "POST", post, content=b"{", headers={"Content-Type": "application/json"}
                ).status_code
                == 400
            )
            assert call("POST", post, content=b"text=hi").status_code == 415
            too_large = b'"' + b"a" * (1 << 20) + b'"'
            assert (
                call(
                    "POST", post, content=too_large, headers={"Content-Type": "application/json"}
                ).status_code
                == 413
            )

        # A stream's events, each against the event schema of text/event-stream.
        resp = http.post("/api/generate/v1", json={"prompt": "Once", "max_tokens": 3})
        assert resp.headers["content-type"].startswith("text/event-stream")
        schema = doc.response("/api/generate/v1", "post", 200)["content"]["text/event-stream"][
            "schema"
        ]
        received = [parsed(event) for event in events(resp)]
        assert [e["event"] for e in received] == ["chunk"] * 3 + ["end"]
        for event in received:
            doc.validate(schema, event, "a generate event")

        # A job's record as it is followed from its 202, and the 409 of cancelling it once done.
        accepted = call(
            "POST", "/api/report/v1/jobs", json={"label": "positive", "top": 2, "delay_ms": 0}
        )
        job = accepted.json()
        assert accepted.headers["location"] == job["href"]
        for _ in range(200):
            record = call("GET", job["href"], "/jobs/{id}").json()
            if record["status"] == "succeeded":
                break
            time.sleep(0.05)
        assert record["status"] == "succeeded", record
        assert call("DELETE", job["href"], "/jobs/{id}").status_code == 409
        assert call("GET", "/jobs/nope", "/jobs/{id}").status_code == 404

        # Without a key, and with a key for another contract.
        no_key = {"Authorization": ""}
        assert call("POST", "/api/iris/v1", json={}, headers=no_key).status_code == 401
        assert call("GET", job["href"], "/jobs/{id}", headers=no_key).status_code == 401
        other = issue_key(stack, "sentiment-only", "sentiment")
        only = {"Authorization": f"Bearer {other}"}
        assert call("POST", "/api/iris/v1", json={}, headers=only).status_code == 403
        assert call("GET", job["href"], "/jobs/{id}", headers=only).status_code == 404

    for want in [
        "GET /jobs/{id} 200",
        "DELETE /jobs/{id} 409",
        "POST /api/report/v1/jobs 202",
        "POST /api/iris/v1 413",
    ]:
        assert want in checked, f"{want} was not checked: {sorted(checked)}"
