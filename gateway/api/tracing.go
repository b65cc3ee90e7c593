package api

import (
	"strconv"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/notebridge/notebridge/gateway/wire"
)

// tracerName is the instrumentation scope of the gateway's spans.
const tracerName = "github.com/notebridge/notebridge/gateway/api"

// traceContext reads and writes W3C trace context: traceparent and
// tracestate.
var traceContext = propagation.TraceContext{}

// Trace starts a server span for each request, continuing the client's
// trace (its traceparent header), and leaves it in the request's user
// context, where a call's NATS span starts from. A stream's server span
// ends when its answer starts; its NATS span, when the stream ends.
func Trace(tp trace.TracerProvider) fiber.Handler {
	tracer := tp.Tracer(tracerName)
	return func(c *fiber.Ctx) error {
		ctx := traceContext.Extract(c.UserContext(), fiberCarrier{c})
		ctx, span := tracer.Start(ctx, c.Method(), trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", c.Method()), attribute.String("url.path", c.Path()),
				attribute.String("notebridge.request_id", RequestIDOf(c))))
		c.SetUserContext(ctx)
		err := c.Next()
		status := c.Response().StatusCode()
		if err != nil {
			status = errorStatus(err)
		}
		span.SetName(c.Method() + " " + c.Route().Path)
		span.SetAttributes(attribute.String("http.route", c.Route().Path), attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, strconv.Itoa(status))
		}
		span.End()
		return err
	}
}

// startCallSpan starts the client span of a call's exchange with its
// workers, a child of the request's span, and sets the call's
// traceparent from it, so that the worker's spans are its children.
// Without a recording span, the client's traceparent goes on unchanged.
func startCallSpan(c *fiber.Ctx, tp trace.TracerProvider, k *call) {
	if tp == nil {
		return
	}
	ctx, span := tp.Tracer(tracerName).Start(c.UserContext(), k.ct.Subject+" request", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", k.ct.Subject),
			attribute.String("notebridge.contract", k.ct.ID()), attribute.String("notebridge.request_id", k.requestID)))
	k.span = span
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	if traceparent := carrier.Get(wire.HeaderTraceparent); traceparent != "" {
		k.traceparent = traceparent
	}
}

// endCallSpan ends a call's span with its outcome.
func endCallSpan(k *call, status int, p *Problem) {
	if k.span == nil {
		return
	}
	k.span.SetAttributes(attribute.Int("http.response.status_code", status))
	if p != nil {
		k.span.SetAttributes(attribute.String("notebridge.problem", p.Type))
		if p.Status >= 500 {
			k.span.SetStatus(codes.Error, p.Title)
		}
	}
	k.span.End()
}

// fiberCarrier reads a request's headers for propagation.
type fiberCarrier struct{ c *fiber.Ctx }

func (f fiberCarrier) Get(key string) string { return f.c.Get(key) }
func (f fiberCarrier) Set(string, string)    {}
func (f fiberCarrier) Keys() []string        { return []string{wire.HeaderTraceparent, "tracestate"} }
