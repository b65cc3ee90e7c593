package api_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/notebridge/notebridge/gateway/api"
	"github.com/notebridge/notebridge/gateway/internal/natstest"
	"github.com/notebridge/notebridge/gateway/wire"
)

// One trace covers the hop: the client's trace id, the gateway's server
// span under the client's span, its call span under that, and the worker
// handed the call span's context in the NATS request's traceparent.
func TestTraceCrossesTheHop(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	log := &lockedBuffer{}
	g := newGatewayConfigured(t, func(cfg *api.Config) {
		cfg.TracerProvider, cfg.Logger = tp, slog.New(slog.NewTextHandler(log, nil))
	})
	reg, ns := g.reg, g.ns

	// The worker: what a NATS micro endpoint receives, and a valid reply.
	ct, err := reg.Lookup("echo", 1)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 4)
	worker := natstest.Conn(t, ns)
	sub, err := worker.QueueSubscribe(ct.Subject, wire.QueueGroup, func(m *nats.Msg) {
		seen <- m.Header.Get(wire.HeaderTraceparent)
		_ = m.Respond([]byte(`{"text": "hi"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := worker.Flush(); err != nil {
		t.Fatal(err)
	}

	const clientTrace, clientSpan = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	r := g.do(t, "POST", "/api/echo/v1", `{"text": "hi"}`, "Content-Type", jsonCT, "traceparent", "00-"+clientTrace+"-"+clientSpan+"-01")
	if r.status != 200 {
		t.Fatalf("got %d; want 200 (body %s)", r.status, r.body)
	}
	atWorker := <-seen
	if line := string(log.take()); !strings.Contains(line, "trace_id="+clientTrace) || !strings.Contains(line, "contract=echo/v1") {
		t.Errorf("the access log line %q; want the trace id and the contract", line)
	}

	spans := recorder.Ended()
	var server, client sdktrace.ReadOnlySpan
	for _, s := range spans {
		switch s.SpanKind() {
		case trace.SpanKindServer:
			server = s
		case trace.SpanKindClient:
			client = s
		}
	}
	if server == nil || client == nil {
		t.Fatalf("spans %v; want a server and a client span", spans)
	}
	if server.SpanContext().TraceID().String() != clientTrace || server.Parent().SpanID().String() != clientSpan {
		t.Errorf("server span in trace %s under %s; want trace %s under the client's %s",
			server.SpanContext().TraceID(), server.Parent().SpanID(), clientTrace, clientSpan)
	}
	if server.Name() != "POST /api/:name/:version" {
		t.Errorf("server span name %q; want the route", server.Name())
	}
	if client.Parent().SpanID() != server.SpanContext().SpanID() || client.SpanContext().TraceID() != server.SpanContext().TraceID() {
		t.Errorf("call span under %s; want under the server span %s", client.Parent().SpanID(), server.SpanContext().SpanID())
	}
	want := "00-" + clientTrace + "-" + client.SpanContext().SpanID().String() + "-01"
	if atWorker != want {
		t.Errorf("the worker got traceparent %q; want %q (the call span's)", atWorker, want)
	}

	// A request with no trace starts one, which the worker continues.
	if r := g.do(t, "POST", "/api/echo/v1", `{"text": "hi"}`, "Content-Type", jsonCT); r.status != 200 {
		t.Fatalf("got %d; want 200", r.status)
	}
	atWorker = <-seen
	fields := strings.Split(atWorker, "-")
	if len(fields) != 4 || fields[1] == clientTrace || fields[1] == strings.Repeat("0", 32) {
		t.Errorf("the worker got traceparent %q; want a new trace", atWorker)
	}
}
