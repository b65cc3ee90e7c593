package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/jobs"
	"github.com/notebridge/notebridge/gateway/replycache"
	"github.com/notebridge/notebridge/gateway/wire"
)

// HeaderRequestTimeout lets a client ask for a shorter deadline than the
// contract's timeout, in seconds ("0.5").
const HeaderRequestTimeout = "Request-Timeout"

// call is a request that passed admission: its contract, the client's
// bytes, and when it must be answered.
type call struct {
	ct          *contracts.Contract
	body        []byte
	requestID   string
	timeout     time.Duration
	deadline    time.Time
	traceparent string
	// lim is what the request was held to; replies are held to lim.ForReplies().
	lim contracts.Limits
	// start, dispatched and replied time the call for the metrics;
	// streaming says its stream writer records its end.
	start, dispatched, replied time.Time
	streaming                  bool
	// release frees the call's admission slot (admission.enter); ok says
	// it succeeded.
	release func(ok bool)
	// span is the call's exchange with its workers, when tracing is on.
	span trace.Span
}

// request builds the NATS message of the call: the client's bytes, never a
// re-encoding, so no digit is lost.
func (k *call) request() *nats.Msg {
	return k.ct.NewRequest(k.body, k.requestID, k.deadline, k.traceparent)
}

// Invoke is the request path of a contract: admit the request (route,
// content type, JSON, request schema), then call the workers the way the
// contract's mode says. svc may be nil when no contract is a job contract;
// cache may be nil, and then no reply is cached; lim bounds the request
// body (contracts.Limits).
func Invoke(reg *contracts.Registry, b *broker, svc *jobs.Service, cache *replycache.Cache, acc *accountant, log *slog.Logger, lim contracts.Limits) fiber.Handler {
	return func(c *fiber.Ctx) error {
		k, err := admit(reg, c, lim)
		if err != nil {
			return err
		}
		switch k.ct.Mode {
		case contracts.ModeStream:
			return relayStream(c, b, acc, log, k)
		case contracts.ModeJob:
			return submitJob(c, b, svc, k)
		}
		if k.ct.Composed() {
			return callComposed(c, b, acc, log, k)
		}
		if k.ct.Cache != nil && cache != nil {
			return callCached(c, b, cache, acc, log, k)
		}
		return callSync(c, b, acc, log, k)
	}
}

// admit checks everything about a request that needs no worker.
func admit(reg *contracts.Registry, c *fiber.Ctx, lim contracts.Limits) (*call, error) {
	start := time.Now()
	ct, err := contractOf(reg, c)
	if err != nil {
		return nil, err
	}
	if err := allow(c, ct); err != nil {
		return nil, err
	}
	if !isJSON(c.Get(fiber.HeaderContentType)) {
		return nil, unsupportedMediaType(c.Get(fiber.HeaderContentType))
	}
	timeout, err := requestTimeout(c.Get(HeaderRequestTimeout), ct.Timeout)
	if err != nil {
		return nil, err
	}
	body := c.Body()
	vs, err := ct.ValidateRequestJSON(body, lim)
	if err != nil {
		var se *contracts.SyntaxError
		errors.As(err, &se)
		if errors.Is(err, contracts.ErrTooDeep) {
			return nil, tooDeep(se, lim.MaxDepth)
		}
		return nil, malformedJSON(se)
	}
	if len(vs) > 0 {
		return nil, invalidRequest(ct, vs)
	}
	if err := holdToTenant(c, ct, body); err != nil {
		return nil, err
	}
	k := &call{
		ct: ct, body: body, requestID: RequestIDOf(c), timeout: timeout,
		deadline: time.Now().Add(timeout), traceparent: c.Get(wire.HeaderTraceparent), lim: lim, start: start,
	}
	t := tracked(c)
	if p := t.admission.enter(k); p != nil {
		return nil, p
	}
	c.Locals(callLocal, k)
	t.metrics.begin(k)
	startCallSpan(c, t.tracer, k)
	return k, nil
}

// callSync sends one request and checks its one reply. The wait ends at
// the deadline, or at once when the connection to NATS drops: the reply
// could not come through any more. Its key's budgets hold the call's
// estimate meanwhile, settled with what the worker reported (nothing,
// without a reply).
func callSync(c *fiber.Ctx, b *broker, acc *accountant, log *slog.Logger, k *call) error {
	l, p := b.link()
	if p != nil {
		return p
	}
	res, err := acc.reserve(c, k)
	if err != nil {
		return err
	}
	var acct accounts
	who := owner(c)
	defer func() { acc.settle(k, who, res, acct) }()
	ctx, cancel := context.WithDeadline(l.ctx, k.deadline)
	defer cancel()
	var reply *nats.Msg
	reply, acct, p = exchange(ctx, b, log, k)
	if reply == nil {
		return p
	}
	acct.setHeaders(c)
	tracked(c).metrics.accounted(k.ct, acct, p)
	if p != nil {
		return p
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(reply.Data)
}

// exchange sends k's request and checks its one reply, waiting until
// ctx ends: the reply and what the worker reported, with the problem to
// answer when the reply is an error or breaks the contract; without a
// reply, only the problem.
func exchange(ctx context.Context, b *broker, log *slog.Logger, k *call) (*nats.Msg, accounts, *Problem) {
	k.dispatched = time.Now()
	reply, err := b.nc.RequestMsgWithContext(ctx, k.request())
	k.replied = time.Now()
	switch {
	case err == nil:
	case errors.Is(err, nats.ErrNoResponders):
		return nil, accounts{}, noWorker(k.ct)
	case lostDuring(ctx):
		return nil, accounts{}, brokerDown(ctx)
	case errors.Is(err, context.DeadlineExceeded):
		return nil, accounts{}, deadlineExceeded(k.ct, k.timeout)
	default:
		return nil, accounts{}, natsUnavailable(err.Error())
	}
	acct := accountsOf(reply.Header, log, k)
	if code := reply.Header.Get(wire.HeaderServiceErrorCode); code != "" {
		return reply, acct, fromWorkerError(k.ct, code, reply.Header.Get(wire.HeaderServiceError), reply.Data, k.timeout)
	}
	return reply, acct, checkReply(log, k, reply.Data, k.ct.ValidateResponseJSON)
}

// checkReply validates what a worker sent, within the limits of replies;
// the client gets a summary, the log gets the violations.
func checkReply(log *slog.Logger, k *call, data []byte, validate func([]byte, contracts.Limits) ([]contracts.Violation, error)) *Problem {
	vs, err := validate(data, k.lim.ForReplies())
	if err != nil {
		log.Warn("worker reply is not JSON within the limits", "request_id", k.requestID, "contract", k.ct.ID(), "err", err)
		var se *contracts.SyntaxError
		if errors.As(err, &se) && se.Err != nil {
			return invalidReply(k.ct, "it is not JSON within the limits: "+se.Msg)
		}
		return invalidReply(k.ct, "it is not JSON")
	}
	if len(vs) > 0 {
		log.Warn("worker reply breaks the contract", "request_id", k.requestID, "contract", k.ct.ID(), "violations", vs)
		return invalidReply(k.ct, fmt.Sprintf("%d violation(s)", len(vs)), vs...)
	}
	return nil
}

// fromWorkerError maps a worker's error code to the client's answer
// (docs/protocol.md has the table); body is the error reply's body.
func fromWorkerError(ct *contracts.Contract, code, msg string, body []byte, timeout time.Duration) *Problem {
	switch code {
	case wire.CodeBusy:
		return workerBusy(ct, msg)
	case wire.CodeDeadlineExceeded:
		return deadlineExceeded(ct, timeout)
	case wire.CodeDrift:
		return contractDrift(ct, msg)
	case wire.CodeInvalidReply:
		return invalidReply(ct, "the worker caught it: "+msg, workerViolations(body)...)
	default:
		return workerError(ct, code, msg)
	}
}

// workerViolations reads the violations of an invalid_reply error body,
// {"violations": [...]}; none when the body is not that shape.
func workerViolations(body []byte) []contracts.Violation {
	var reply struct {
		Violations []contracts.Violation `json:"violations"`
	}
	if json.Unmarshal(body, &reply) != nil {
		return nil
	}
	return reply.Violations
}

// isJSON accepts application/json and any application/*+json type.
func isJSON(contentType string) bool {
	if contentType == fiber.MIMEApplicationJSON { // most clients' exact header: no need to parse it
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == fiber.MIMEApplicationJSON || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// requestTimeout reads the Request-Timeout header: a client may shorten the
// contract's timeout, never lengthen it.
func requestTimeout(header string, contractTimeout time.Duration) (time.Duration, error) {
	if header == "" {
		return contractTimeout, nil
	}
	// ParseFloat alone takes "Inf", "1_0", "+2" and "0x1p-2", and "1e-300"
	// would be an instant 504.
	if !isDecimal(header) {
		return 0, badHeader(HeaderRequestTimeout, "must be a number of seconds, digits with an optional fraction such as 2 or 0.5, at most 16 characters")
	}
	secs, _ := strconv.ParseFloat(header, 64) // a decimal of 16 characters always parses
	if secs < minRequestTimeout.Seconds() {
		return 0, badHeader(HeaderRequestTimeout, "must be at least 0.001 seconds")
	}
	if secs >= contractTimeout.Seconds() {
		return contractTimeout, nil
	}
	return time.Duration(secs * float64(time.Second)), nil
}
