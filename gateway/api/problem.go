package api

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/notebridge/notebridge/gateway/compose"
	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/jobs"
	"github.com/notebridge/notebridge/gateway/keys"
	"github.com/notebridge/notebridge/gateway/usage"
)

// Problem is an RFC 9457 problem detail. Every error the gateway answers
// has this shape and is written by ErrorHandler, nowhere else.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// Contract is the contract the request was for, as "name/vN".
	Contract string `json:"contract,omitempty"`
	// Code is the worker's error code, for worker errors.
	Code string `json:"code,omitempty"`
	// Errors lists every schema violation of the request (422) or of the
	// reply (502 invalid-reply).
	Errors []contracts.Violation `json:"errors,omitempty"`
	// Line and Column locate a JSON syntax error (400).
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
	// Job is the job the problem is about.
	Job string `json:"job,omitempty"`
	// Budget is the spent budget (402), and ResetsAt when it is whole again
	// (RFC 3339).
	Budget   string `json:"budget,omitempty"`
	ResetsAt string `json:"resets_at,omitempty"`
	// Branches is how each branch of a failed composition ended.
	Branches []compose.Outcome `json:"branches,omitempty"`

	retryAfter      time.Duration
	allow           string
	wwwAuthenticate string
	shedReason      string // why admission shed the call, for the metrics
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

func malformedJSON(err *contracts.SyntaxError) *Problem {
	p := probMalformedJSON.new(fmt.Sprintf("the body is not valid JSON: %s", err))
	p.Line, p.Column = err.Line, err.Column
	return p
}

func tooDeep(err *contracts.SyntaxError, limit int) *Problem {
	p := probTooDeep.new(fmt.Sprintf("the body's arrays and objects nest deeper than the limit of %d at line %d, column %d", limit, err.Line, err.Column))
	p.Line, p.Column = err.Line, err.Column
	return p
}

func badHeader(name, detail string) *Problem {
	return probInvalidHeader.new(fmt.Sprintf("%s: %s", name, detail))
}

func unauthorized(detail string) *Problem {
	p := probUnauthorized.new(detail)
	p.wwwAuthenticate = `Bearer realm="notebridge"`
	return p
}

func forbidden(ct *contracts.Contract, k *keys.Key) *Problem {
	p := probForbidden.new(fmt.Sprintf("the API key %q may not call %s", k.Name, ct.ID()))
	p.Contract = ct.ID()
	return p
}

func wrongTenant(ct *contracts.Contract, k *keys.Key, got string, named bool) *Problem {
	detail := fmt.Sprintf("the API key %q is bound to tenant %q; this request of %s is for %q", k.Name, k.Tenant, ct.ID(), got)
	if !named {
		detail = fmt.Sprintf("the API key %q is bound to tenant %q; this request of %s names no tenant at %s", k.Name, k.Tenant, ct.ID(), ct.Tenant)
	}
	p := probForbidden.new(detail)
	p.Contract = ct.ID()
	return p
}

func rateLimited(k *keys.Key, wait time.Duration) *Problem {
	p := probRateLimited.new(fmt.Sprintf("the API key %q may make %v calls a second (%d at once); try again in %s", k.Name, k.Rate, max(k.Burst, 1), wait.Round(time.Millisecond)))
	p.retryAfter = time.Duration(ceilSeconds(wait)) * time.Second
	return p
}

func budgetExhausted(ct *contracts.Contract, e *usage.ExhaustedError, now time.Time) *Problem {
	p := probBudgetExhausted.new(fmt.Sprintf("the API key's budget %s is spent for this %s; it resets at %s", e.Budget, e.Budget.Period, e.ResetsAt.Format(time.RFC3339)))
	p.Contract, p.Budget, p.ResetsAt = ct.ID(), e.Budget.String(), e.ResetsAt.Format(time.RFC3339)
	p.retryAfter = time.Duration(ceilSeconds(e.ResetsAt.Sub(now))) * time.Second
	return p
}

func usageForbidden(name string) *Problem {
	return probForbidden.new(fmt.Sprintf("the API key %q may read its own usage only; a usage reader (notebridge keys create -usage-reader) reads every key's", name))
}

func usageUnavailable(err error) *Problem {
	p := probBrokerUnavailable.new(fmt.Sprintf("the usage ledger cannot be read: %v", err))
	p.retryAfter = time.Second
	return p
}

// budgetStateUnavailable is broker-unavailable: budgets live in
// JetStream, which did not answer.
func budgetStateUnavailable(err error) *Problem {
	p := probBrokerUnavailable.new(fmt.Sprintf("the budget of the API key cannot be checked: %v", err))
	p.retryAfter = time.Second
	return p
}

// rateStateUnavailable is broker-unavailable: the rate state lives in
// JetStream, which did not answer.
func rateStateUnavailable(err error) *Problem {
	p := probBrokerUnavailable.new(fmt.Sprintf("the rate limit of the API key cannot be checked: %v", err))
	p.retryAfter = time.Second
	return p
}

// keysNotReady is broker-unavailable: the keys live in JetStream, which
// the gateway has not read yet.
func keysNotReady() *Problem {
	p := probBrokerUnavailable.new("the API keys are not loaded from NATS yet")
	p.retryAfter = time.Second
	return p
}

func invalidQuery(param, detail string) *Problem {
	return probInvalidQuery.new(fmt.Sprintf("?%s %s", param, detail))
}

func notFound(detail string) *Problem {
	return probNotFound.new(detail)
}

func methodNotAllowed(method, allow string) *Problem {
	p := probMethodNotAllowed.new(fmt.Sprintf("%s is not allowed here; allowed: %s", method, allow))
	p.allow = allow
	return p
}

// malformedRequest is a request whose line or head is not valid HTTP/1.1,
// or could be read two ways (err wraps ErrMalformedHead, or is fasthttp's).
func malformedRequest(err error) *Problem {
	return probMalformedRequest.new(err.Error())
}

func headersTooLarge(limit int) *Problem {
	return probHeadersTooLarge.new(fmt.Sprintf("the request line and headers are over the limit of %d bytes", limit))
}

func notImplemented(method string) *Problem {
	return probNotImplemented.new(fmt.Sprintf("%s is not a method the gateway implements", method))
}

// internalError is a gateway bug; the log has the details, the client only
// the request id to find them.
func internalError() *Problem {
	return probInternal.new("the gateway failed; the log has the details under this request id")
}

func bodyTooLarge(limit int) *Problem {
	return probBodyTooLarge.new(fmt.Sprintf("the body is over the limit of %d bytes", limit))
}

func unsupportedMediaType(got string) *Problem {
	if got == "" {
		got = "none"
	}
	return probUnsupportedMediaType.new(fmt.Sprintf("Content-Type must be application/json, got %s", got))
}

func invalidRequest(c *contracts.Contract, vs []contracts.Violation) *Problem {
	p := probInvalidRequest.new(fmt.Sprintf("%d violation(s) of the %s request schema", len(vs), c.ID()))
	p.Contract, p.Errors = c.ID(), vs
	return p
}

func noWorker(c *contracts.Contract) *Problem {
	p := probNoWorker.new(fmt.Sprintf("no worker is serving %s right now", c.ID()))
	p.Contract, p.retryAfter = c.ID(), time.Second
	return p
}

func workerBusy(c *contracts.Contract, msg string) *Problem {
	p := probWorkerBusy.new(fmt.Sprintf("the worker serving %s is at its limit: %s", c.ID(), msg))
	p.Contract, p.retryAfter = c.ID(), time.Second
	return p
}

func natsUnavailable(detail string) *Problem {
	p := probBrokerUnavailable.new(fmt.Sprintf("the gateway cannot reach NATS: %s", detail))
	p.retryAfter = time.Second
	return p
}

// statusClientClosed is nginx's status for a client that closed its
// connection before its answer: no client reads it, the access log does.
const statusClientClosed = 499

func clientClosed(c *contracts.Contract) *Problem {
	p := probClientClosed.new(fmt.Sprintf("the client left before the answer of %s started; the worker was told to stop", c.ID()))
	p.Contract = c.ID()
	return p
}

// jobModeNotReady is broker-unavailable too: JetStream's side of NATS is
// not set up for jobs, yet or again.
func jobModeNotReady(err error) *Problem {
	p := probBrokerUnavailable.new(err.Error())
	p.retryAfter = time.Second
	return p
}

func overloaded(c *contracts.Contract, reason, detail string) *Problem {
	p := probOverloaded.new(detail)
	p.Contract, p.retryAfter, p.shedReason = c.ID(), time.Second, reason
	return p
}

func deadlineExceeded(c *contracts.Contract, timeout time.Duration) *Problem {
	p := probDeadlineExceeded.new(fmt.Sprintf("%s did not answer within %s", c.ID(), timeout))
	p.Contract = c.ID()
	return p
}

func workerError(c *contracts.Contract, code, msg string) *Problem {
	p := probWorkerError.new(fmt.Sprintf("%s failed: %s", c.ID(), msg))
	p.Contract, p.Code = c.ID(), code
	return p
}

func contractDrift(c *contracts.Contract, msg string) *Problem {
	p := probContractDrift.new(fmt.Sprintf("the worker serving %s holds different schemas than the gateway (%s); redeploy one side so their contract digests match", c.ID(), msg))
	p.Contract, p.Code = c.ID(), "drift"
	return p
}

func workerLost(c *contracts.Contract, idle time.Duration) *Problem {
	p := probWorkerLost.new(fmt.Sprintf("the worker serving %s sent nothing for %s mid-stream and is presumed dead", c.ID(), idle))
	p.Contract = c.ID()
	return p
}

func notAcceptable(c *contracts.Contract) *Problem {
	p := probNotAcceptable.new(fmt.Sprintf("%s streams text/event-stream and declares no merge, so it cannot answer application/json", c.ID()))
	p.Contract = c.ID()
	return p
}

// invalidReply is the 502 of a reply that broke its contract, listing
// every violation found; without any (the reply was not JSON, say) the
// worker's or the gateway's log has the details under the request id.
func invalidReply(c *contracts.Contract, detail string, vs ...contracts.Violation) *Problem {
	where := "; the details are in the logs under this request id"
	if len(vs) > 0 {
		where = "; errors lists every violation"
	}
	p := probInvalidReply.new(fmt.Sprintf("the worker's reply broke the %s contract: %s%s", c.ID(), detail, where))
	p.Contract, p.Errors = c.ID(), vs
	return p
}

func jobNotFound(id string, ttl time.Duration) *Problem {
	return notFound(fmt.Sprintf("no job %q: it was never submitted, or its record expired (records live %s after their last change)", id, ttl))
}

func jobFinished(rec *jobs.Record) *Problem {
	p := probJobFinished.new(fmt.Sprintf("job %s has %s; only a queued or running job can be cancelled", rec.ID, rec.Status))
	p.Job, p.Contract = rec.ID, rec.Contract
	return p
}

func idempotencyKeyReused(c *contracts.Contract) *Problem {
	p := probIdempotencyKeyReused.new("this Idempotency-Key was first sent with another contract or body; send a new key for a new request, or the same JSON to get the same job")
	p.Contract = c.ID()
	return p
}

func callbackNotAllowed(host string) *Problem {
	return probCallbackNotAllowed.new(fmt.Sprintf("Callback-Url: host %s is not in the gateway's webhook allow-list (-webhook-allow)", host))
}

// ErrorHandler writes every error as problem+json. Errors that are not
// problems are Fiber's own (routing, body limit) or bugs; bugs are logged
// and answered with a 500 that says nothing about the inside.
func ErrorHandler(log *slog.Logger, bodyLimit, headerLimit int) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		var p *Problem
		var fe *fiber.Error
		switch {
		case errors.As(err, &p):
		case errors.As(err, &fe):
			p = fromFiber(c, fe, bodyLimit, headerLimit)
		default:
			log.Error("unhandled error", "request_id", RequestIDOf(c), "err", err)
			p = internalError()
		}
		if p.retryAfter > 0 {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(p.retryAfter.Seconds())))
		}
		if p.allow != "" {
			c.Set(fiber.HeaderAllow, p.allow)
		}
		if p.wwwAuthenticate != "" {
			c.Set(fiber.HeaderWWWAuthenticate, p.wwwAuthenticate)
		}
		c.Set(fiber.HeaderContentType, mimeProblem)
		return c.Status(p.Status).Send(p.render(RequestIDOf(c), c.Path()))
	}
}

const mimeProblem = "application/problem+json"

// render is the one place a problem becomes bytes: the body of an error
// response, or the data of a stream's error event.
func (p *Problem) render(requestID, instance string) []byte {
	out := *p
	out.RequestID, out.Instance = requestID, instance
	b, err := marshalJSON(out)
	if err != nil { // a Problem holds only strings, numbers and violations
		panic(err)
	}
	return b
}

// fromFiber maps Fiber's errors, among them those fasthttp meets before any
// handler runs (a head it cannot parse, a chunked body over the limit).
func fromFiber(c *fiber.Ctx, fe *fiber.Error, bodyLimit, headerLimit int) *Problem {
	switch fe.Code {
	case fiber.StatusBadRequest: // only fasthttp's parse errors are Fiber 400s
		return malformedRequest(fmt.Errorf("the request is not valid HTTP/1.1: %s", fe.Message))
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return headersTooLarge(headerLimit)
	case fiber.StatusNotFound:
		return notFound(fmt.Sprintf("no route for %s %s", c.Method(), c.Path()))
	case fiber.StatusRequestEntityTooLarge:
		return bodyTooLarge(bodyLimit)
	case fiber.StatusMethodNotAllowed:
		return methodNotAllowed(c.Method(), "")
	default:
		p := probHTTPError.new(fe.Message)
		p.Status, p.Title = fe.Code, utils.StatusMessage(fe.Code)
		return p
	}
}
