// Package refworker is a Go worker for the test contracts: "echo"
// (testdata/contracts) and stream contracts with Start, built on nats.go
// micro, and job contracts with StartJobs, built on JetStream. The
// gateway's tests and benchmarks use it so that they need no Python; it
// speaks the same protocol as the Python SDK (docs/protocol.md).
package refworker

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/wire"
)

// ErrNoContracts is returned by Start when it is given nothing to serve.
var ErrNoContracts = errors.New("refworker: no contracts to serve")

// Option changes how the worker behaves.
type Option func(*worker)

// WithDigest makes the worker announce and check digest instead of the
// contract's own, to provoke contract drift.
func WithDigest(digest string) Option { return func(w *worker) { w.digest = digest } }

// WithCancelled calls f with the request id of every stream the gateway
// cancelled, so a test can see what the worker saw.
func WithCancelled(f func(requestID string)) Option { return func(w *worker) { w.cancelled = f } }

// WithSent calls f with the kind of every stream message the worker has
// published (wire.StreamChunk, ...), in order.
func WithSent(f func(kind string)) Option { return func(w *worker) { w.sent = f } }

// WithReceived calls f with the request id of every request the worker
// has admitted, before its handler runs, so a test knows it is in flight.
func WithReceived(f func(requestID string)) Option { return func(w *worker) { w.received = f } }

type worker struct {
	nc        *nats.Conn
	digest    string
	cancelled func(requestID string)
	sent      func(kind string)
	received  func(requestID string)
}

// echoRequest is the request of the echo test contract.
type echoRequest struct {
	Text string          `json:"text"`
	N    json.RawMessage `json:"n,omitempty"`
	// SleepMS is an integer to the schema, which 2.0 also is.
	SleepMS  float64 `json:"sleep_ms"`
	Behavior string  `json:"behavior"`
}

// Start serves every given contract with echo semantics until the returned
// service is stopped. Each request runs in its own goroutine: micro calls
// handlers one at a time per endpoint.
func Start(nc *nats.Conn, cts []*contracts.Contract, opts ...Option) (micro.Service, error) {
	if len(cts) == 0 {
		return nil, ErrNoContracts
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        "notebridge-refworker",
		Version:     "1.0.0",
		Description: "Go reference worker for the echo test contract",
		QueueGroup:  wire.QueueGroup,
	})
	if err != nil {
		return nil, err
	}
	for _, ct := range cts {
		w := &worker{nc: nc, digest: ct.Digest, cancelled: func(string) {}, sent: func(string) {}, received: func(string) {}}
		for _, opt := range opts {
			opt(w)
		}
		handler := func(req micro.Request) { go w.handle(ct, req) }
		if ct.Mode == contracts.ModeStream {
			handler = func(req micro.Request) { go w.stream(ct, req) }
		}
		err := svc.AddEndpoint(fmt.Sprintf("%s-v%d", ct.Name, ct.Version), micro.HandlerFunc(handler),
			micro.WithEndpointSubject(ct.Subject),
			micro.WithEndpointMetadata(map[string]string{
				"contract": ct.Name, "version": fmt.Sprint(ct.Version), "digest": w.digest,
			}))
		if err != nil {
			_ = svc.Stop()
			return nil, err
		}
	}
	return svc, nil
}

// admit checks what every request is checked for before its handler runs;
// false means it has answered.
func (w *worker) admit(ct *contracts.Contract, req micro.Request) bool {
	h := req.Headers()
	if d := h.Get(wire.HeaderContractDigest); d != "" && d != w.digest {
		w.respondError(req, wire.CodeDrift, fmt.Sprintf("%s: gateway has %s, worker has %s", ct.ID(), d, w.digest))
		return false
	}
	deadline, err := wire.ParseDeadline(h.Get(wire.HeaderDeadline))
	if err != nil {
		deadline = time.Now().Add(ct.Timeout)
	}
	if time.Now().After(deadline) {
		w.respondError(req, wire.CodeDeadlineExceeded, "deadline passed before the handler ran")
		return false
	}
	w.received(h.Get(wire.HeaderRequestID))
	return true
}

func (w *worker) handle(ct *contracts.Contract, req micro.Request) {
	if !w.admit(ct, req) {
		return
	}
	var in echoRequest
	if err := json.Unmarshal(req.Data(), &in); err != nil {
		w.respondError(req, wire.CodeInvalidRequest, err.Error())
		return
	}
	time.Sleep(time.Duration(in.SleepMS * float64(time.Millisecond)))
	switch in.Behavior {
	case "fail":
		w.respondError(req, "echo_failed", "echo was asked to fail")
	case "crash":
		w.respondError(req, wire.CodeInternal, "internal error in handler "+ct.ID())
	case "bad_reply":
		w.respond(req, []byte(`{"text":42,"n":"seven","extra":true}`)) // three violations
	default:
		w.respondJSON(req, echoReply{Text: in.Text, N: in.N})
	}
}

// echoReply is the reply of the echo test contract; N keeps the request's digits.
type echoReply struct {
	Text string          `json:"text"`
	N    json.RawMessage `json:"n,omitempty"`
}
