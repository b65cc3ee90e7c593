"""OpenTelemetry: each request a worker serves is a span that continues the caller's trace.

The gateway sends its call span's W3C trace context in the NATS request's ``traceparent``
header; the worker's span for the request is its child, and the handler runs inside it, so
spans the handler makes (a model client's, a database's) join the same trace: one trace id
from the HTTP request through NATS to the notebook code.

Spans go nowhere unless a tracer provider is configured: ``notebridge-worker run`` sets one up
when the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) variable is set
and the ``tracing`` extra is installed (``pip install 'notebridge-worker[tracing]'``); a test or
an application may install its own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from notebridge_worker.protocol import HEADER_TRACEPARENT

logger = logging.getLogger("notebridge_worker")

TRACER_NAME = "notebridge_worker"
_propagator = TraceContextTextMapPropagator()


@contextmanager
def request_span(
    contract_ref: str, subject: str, request_id: str, headers: Mapping[str, str]
) -> Iterator[Span]:
    """The span of one request, current while it runs, a child of the caller's trace context."""
    carrier = (
        {HEADER_TRACEPARENT: headers[HEADER_TRACEPARENT]} if HEADER_TRACEPARENT in headers else {}
    )
    parent = _propagator.extract(carrier)
    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(
        f"{contract_ref} handle",
        context=parent,
        kind=SpanKind.SERVER,
        attributes={
            "messaging.system": "nats",
            "messaging.destination.name": subject,
            "notebridge.contract": contract_ref,
            "notebridge.request_id": request_id,
        },
        record_exception=False,  # a handler's traceback stays in the worker's log
        set_status_on_exception=False,
    ) as span:
        yield span


@contextmanager
def attempt_span(contract_ref: str, attempt: int, repairs: bool) -> Iterator[None]:
    """A child span per call of the handler for a contract with repair; nothing without."""
    if not repairs:
        yield
        return
    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(
        f"{contract_ref} attempt {attempt}",
        attributes={"notebridge.attempt": attempt},
        record_exception=False,
        set_status_on_exception=False,
    ):
        yield


def mark_failed(span: Span, code: str) -> None:
    """Record that the request failed with the worker error ``code``."""
    span.set_attribute("notebridge.error_code", code)
    span.set_status(Status(StatusCode.ERROR, code))


def configure_from_environment(service_name: str) -> bool:
    """Export spans over OTLP/HTTP when the standard OTEL_* variables ask for it.

    Returns whether a tracer provider was installed. Nothing is exported when no endpoint is
    set, when OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none.
    """
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER") == "none":
        return False
    if not (
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        return False
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        logger.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the tracing extra is not installed: "
            "pip install 'notebridge-worker[tracing]' to export spans"
        )
        return False
    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def shutdown() -> None:
    """Flush and stop the installed tracer provider, if it is the SDK's."""
    provider = trace.get_tracer_provider()
    stop = getattr(provider, "shutdown", None)
    if callable(stop):
        stop()
