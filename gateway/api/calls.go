package api

import (
	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/trace"
)

// callLocal is where admit leaves the request's call for trackCalls.
const callLocal = "notebridge.call"

// A call (a contract call or a job submission) is admitted by admit
// (invoke.go), within the in-flight bounds (shed.go), counted (metrics.go)
// and traced (tracing.go); trackCalls and finishCall tie those together.

// callTracking is what trackCalls gives the calls on its routes: their
// admission, their metrics and their tracer.
type callTracking struct {
	admission *admission
	metrics   *Metrics
	tracer    trace.TracerProvider // nil: no spans of its own
}

// trackLocal is where trackCalls leaves its callTracking for admit.
const trackLocal = "notebridge.track"

// trackCalls admits the calls on the routes after it (admission.enter, in
// admit) and records the outcome of each: those admitted, when they end
// (a stream that has started ends in its writer), and those refused for
// their contract.
func trackCalls(adm *admission, m *Metrics, tp trace.TracerProvider) fiber.Handler {
	t := &callTracking{admission: adm, metrics: m, tracer: tp}
	return func(c *fiber.Ctx) error {
		c.Locals(trackLocal, t)
		err := c.Next()
		status := c.Response().StatusCode()
		p, _ := err.(*Problem)
		if p != nil {
			status = p.Status
		}
		k, _ := c.Locals(callLocal).(*call)
		switch {
		case k == nil:
			m.refused(status, p)
		case !k.streaming:
			finishCall(m, k, status, p)
		}
		return err
	}
}

// tracked is the request's callTracking; none outside trackCalls' routes.
func tracked(c *fiber.Ctx) *callTracking {
	if t, ok := c.Locals(trackLocal).(*callTracking); ok {
		return t
	}
	return &callTracking{}
}

// finishCall ends a call: its admission slot is freed and its outcome
// recorded; p is its problem, nil when it succeeded.
func finishCall(m *Metrics, k *call, status int, p *Problem) {
	if k.release != nil {
		k.release(p == nil && status < 400)
	}
	m.end(k, status, p)
	endCallSpan(k, status, p)
}
