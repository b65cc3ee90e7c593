"""Contracts loaded from a running gateway (notebridge_worker.remote), not from a checkout."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from notebridge_worker import RequestContext, Worker
from notebridge_worker.contracts import ContractError, load_contracts
from notebridge_worker.remote import fetch_contracts

from .conftest import TEST_CONTRACTS, WORKER_BIN, Gateway, free_port, stop, wait_until

ECHO_SOURCE = """
from notebridge_worker import Worker

worker = Worker(name="remote-echo")


@worker.handler("echo", version=1)
async def echo(request):
    return {"text": request["text"] + " via the gateway's contracts"}
"""


@pytest.fixture
def described(gateway: Gateway) -> Gateway:
    """The gateway; its descriptions carry the schema files verbatim."""
    description = httpx.get(f"{gateway.url}/api/echo/v1", timeout=5).json()
    assert "schema_sources" in description, "gateway/api/catalog.go Describe must serve them"
    return gateway


def test_gateway_contracts_equal_the_directory(described: Gateway, tmp_path: Path) -> None:
    remote = load_contracts(fetch_contracts(described.url, cache_dir=tmp_path))
    local = load_contracts(TEST_CONTRACTS)
    assert sorted(remote) == sorted(local)
    for ref, contract in local.items():
        got = remote[ref]
        assert got.digest == contract.digest, ref
        assert got.examples == contract.examples, ref  # responses and exact numbers too
        fields = ("mode", "timeout_seconds", "deprecated", "description", "merge")
        assert [getattr(got, f) for f in fields] == [getattr(contract, f) for f in fields]
        assert got.idle_timeout_seconds == contract.idle_timeout_seconds
        assert (got.chunk_schema_path is None) == (contract.chunk_schema_path is None)
    # Named contracts only, and the same content is cached once.
    only = load_contracts(fetch_contracts(described.url, ["echo/v1"], cache_dir=tmp_path))
    assert sorted(only) == ["echo/v1"]


@pytest.mark.parametrize(
    ("contracts_dir_in_code", "by"),
    [
        pytest.param(None, "flag", id="flag"),
        # The docs' notebook names a folder for the laptop; the deployment's URL must win.
        pytest.param("../checkout/contracts", "flag", id="flag-over-code"),
        pytest.param("../checkout/contracts", "env", id="env-over-code"),
    ],
)
def test_worker_from_the_gateway_serves_through_it(
    described: Gateway, tmp_path: Path, contracts_dir_in_code: str | None, by: str
) -> None:
    target = tmp_path / "remote_echo.py"
    source = ECHO_SOURCE
    if contracts_dir_in_code:
        source = source.replace(
            'Worker(name="remote-echo")',
            f'Worker(name="remote-echo", contracts_dir="{contracts_dir_in_code}")',
        )
    target.write_text(source)
    env = {**os.environ, "NOTEBRIDGE_CACHE_DIR": str(tmp_path / "cache")}
    args = [str(WORKER_BIN), "run", str(target), "--nats-url", described.nats_url]
    if by == "flag":
        args += ["--contracts-url", described.url]
    else:
        env["NOTEBRIDGE_CONTRACTS_URL"] = described.url
    env.pop("NOTEBRIDGE_CONTRACTS_DIR", None)
    proc = subprocess.Popen(
        args,
        cwd=tmp_path,  # no contracts directory here: they must come from the gateway
        env=env,
    )
    try:
        wait_until(lambda: described.workers("echo", 1) >= 1, "remote echo worker discovered")
        resp = httpx.post(f"{described.url}/api/echo/v1", json={"text": "hi"}, timeout=10)
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"text": "hi via the gateway's contracts"}
        catalog = httpx.get(f"{described.url}/api", timeout=5).json()
        echo = next(c for c in catalog["contracts"] if c["name"] == "echo")
        assert echo["versions"][0]["drifted_workers"] == 0
    finally:
        stop(proc)


def test_worker_accepts_a_gateway_url_as_contracts_dir(described: Gateway, tmp_path, monkeypatch):
    monkeypatch.setenv("NOTEBRIDGE_CACHE_DIR", str(tmp_path))
    worker = Worker(contracts_dir=described.url)
    assert worker.contracts_dir.is_relative_to(tmp_path)

    @worker.handler("echo", version=1)
    async def echo(request: dict, context: RequestContext) -> dict:
        return request

    assert worker.served == ["echo/v1"]


def test_unreachable_gateway_is_a_clear_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ContractError, match=r"/api: cannot reach the gateway"):
        fetch_contracts(url, cache_dir=tmp_path)
    with pytest.raises(ContractError, match=r"cannot reach the gateway"):
        Worker(contracts_dir=url)


class FakeGateway(ThreadingHTTPServer):
    """Serves echo/v1's description from testdata, digest and files as the test sets them."""

    def __init__(self, description: dict) -> None:
        self.description = description
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeGateway

    def do_GET(self) -> None:
        catalog = {
            "contracts": [{"name": "echo", "versions": [{"version": 1, "href": "/api/echo/v1"}]}]
        }
        body = {"/api": catalog, "/api/echo/v1": self.server.description}.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        if body is not None:
            self.wfile.write(json.dumps(body).encode())

    def log_message(self, *args: object) -> None:
        pass


def echo_description() -> dict:
    manifest = json.loads((TEST_CONTRACTS / "echo.v1.json").read_text())
    files = ["../schemas/echo.request.json", "../schemas/echo.response.json"]
    files.append("../schemas/defs.json")
    sources = {f: (TEST_CONTRACTS / f).read_text() for f in files}
    digest = load_contracts(TEST_CONTRACTS)["echo/v1"].digest
    return {**manifest, "digest": digest, "schema_sources": sources}


@pytest.fixture
def fake() -> Iterator[FakeGateway]:
    server = FakeGateway(echo_description())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_fake_gateway_loads(fake: FakeGateway, tmp_path: Path) -> None:
    contracts = load_contracts(fetch_contracts(fake.url, cache_dir=tmp_path))
    assert contracts["echo/v1"].digest == fake.description["digest"]


def test_digest_mismatch_is_a_clear_error(fake: FakeGateway, tmp_path: Path) -> None:
    fake.description["digest"] = "sha256:" + "0" * 64
    with pytest.raises(ContractError, match=r"echo/v1: digest mismatch: the gateway announces"):
        fetch_contracts(fake.url, cache_dir=tmp_path)


def test_altered_schema_file_is_a_digest_mismatch(fake: FakeGateway, tmp_path: Path) -> None:
    sources = fake.description["schema_sources"]
    # Another limit: not what the digest was computed over.
    sources["../schemas/defs.json"] = sources["../schemas/defs.json"].replace(
        '"maxLength": 64', '"maxLength": 65'
    )
    with pytest.raises(ContractError, match=r"digest mismatch"):
        fetch_contracts(fake.url, cache_dir=tmp_path)


def test_reformatted_schema_file_keeps_its_digest(fake: FakeGateway, tmp_path: Path) -> None:
    # Compacted, reordered, described: the same schema to the digest (docs/protocol.md).
    sources = fake.description["schema_sources"]
    schema = json.loads(sources["../schemas/defs.json"])
    schema["description"] = "reworded"
    sources["../schemas/defs.json"] = json.dumps(schema, sort_keys=True)
    contracts = load_contracts(fetch_contracts(fake.url, cache_dir=tmp_path))
    assert contracts["echo/v1"].digest == fake.description["digest"]


def test_gateway_without_schema_sources_is_a_clear_error(fake, tmp_path: Path) -> None:
    del fake.description["schema_sources"]
    with pytest.raises(ContractError, match=r"serves no schema_sources"):
        fetch_contracts(fake.url, cache_dir=tmp_path)


def test_unknown_contract_name_is_a_clear_error(fake: FakeGateway, tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"no contract nope \(it has: echo/v1\)"):
        fetch_contracts(fake.url, ["nope"], cache_dir=tmp_path)
