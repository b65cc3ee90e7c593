"""One trace from the HTTP request through NATS to the handler: the real gateway binary exports
its spans over OTLP/HTTP to a collector in this test, and a worker in this process records its
own with the OpenTelemetry SDK; their parent links must join up across the hop."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from notebridge_worker import Worker

from .conftest import TEST_CONTRACTS, Gateway, start_gateway, stop, wait_until

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str


class Collector(http.server.ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver on 127.0.0.1 that keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.lock = threading.Lock()
        collector = self

        class Receive(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with collector.lock:
                    for resource in request.resource_spans:
                        for scope in resource.scope_spans:
                            collector.spans.extend(
                                Span(
                                    s.name,
                                    s.trace_id.hex(),
                                    s.span_id.hex(),
                                    s.parent_span_id.hex(),
                                )
                                for s in scope.spans
                            )
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Receive)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def received(self) -> list[Span]:
        with self.lock:
            return list(self.spans)


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def worker_spans() -> InMemorySpanExporter:
    """The SDK for this process's workers: their spans, kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture
def traced_gateway(
    tmp_path: Path, nats_url: str, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Gateway]:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    gw = start_gateway(tmp_path, nats_url=nats_url, contracts_dir=TEST_CONTRACTS)
    try:
        yield gw
    finally:
        stop(gw.proc)


async def test_one_trace_from_http_through_nats_to_the_handler(
    traced_gateway: Gateway,
    collector: Collector,
    worker_spans: InMemorySpanExporter,
    serve: Callable[[Worker], AbstractAsyncContextManager[None]],
) -> None:
    worker = Worker(name="traced-echo", contracts_dir=TEST_CONTRACTS)
    tracer = trace.get_tracer("a notebook's model client")

    @worker.handler("echo", version=1)
    def echo(request: dict[str, Any]) -> dict[str, Any]:  # a plain def: it runs in a thread
        with tracer.start_as_current_span("model call"):
            return {"text": request["text"]}

    worker_spans.clear()
    async with serve(worker):
        # Polled from a thread: the worker serves on this event loop meanwhile.
        await asyncio.to_thread(
            wait_until, lambda: traced_gateway.workers("echo", 1) >= 1, "the worker discovered"
        )
        async with httpx.AsyncClient() as http:
            resp = await http.post(
                f"{traced_gateway.url}/api/echo/v1",
                json={"text": "traced"},
                headers={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"},
                timeout=10,
            )
    assert resp.status_code == 200, resp.text

    await asyncio.to_thread(
        wait_until,
        lambda: len([s for s in collector.received() if s.trace_id == CLIENT_TRACE]) >= 2,
        "the gateway's spans at the collector",
    )
    gateway_spans = {s.name: s for s in collector.received() if s.trace_id == CLIENT_TRACE}
    server = gateway_spans["POST /api/:name/:version"]
    call = gateway_spans["nb.echo.v1 request"]
    mine = {
        s.name: Span(
            s.name,
            format(s.context.trace_id, "032x"),
            format(s.context.span_id, "016x"),
            format(s.parent.span_id, "016x") if s.parent else "",
        )
        for s in worker_spans.get_finished_spans()
    }
    handled, model = mine["echo/v1 handle"], mine["model call"]

    assert server.parent_id == CLIENT_SPAN
    assert call.parent_id == server.span_id
    assert handled.trace_id == CLIENT_TRACE
    assert handled.parent_id == call.span_id, "the worker's span is the gateway call span's child"
    assert model.trace_id == CLIENT_TRACE
    assert model.parent_id == handled.span_id, "the handler's own span is the request's child"
