package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/notebridge/notebridge/gateway/compose"
	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/usage"
)

// callComposed answers a sync call of a composed contract: the gateway
// runs its steps, each branch a sync call of another contract, and
// answers the merged result with how each branch ended. What the
// branches' workers report is the composed call's usage: its key's
// budgets hold the call's estimate meanwhile, as for any sync call.
func callComposed(c *fiber.Ctx, b *broker, acc *accountant, log *slog.Logger, k *call) error {
	res, err := acc.reserve(c, k)
	if err != nil {
		return err
	}
	spent := &branchAccounts{}
	who := owner(c)
	defer func() { acc.settle(k, who, res, spent.total()) }()
	ctx, cancel := context.WithDeadline(context.Background(), k.deadline)
	defer cancel()
	k.dispatched = time.Now()
	reply, err := compose.Run(ctx, k.ct, k.body, branchCaller(b, log, k.lim, k.requestID, k.traceparent, spent), nil)
	k.replied = time.Now()
	total := spent.total()
	total.setHeaders(c)
	var p *Problem
	outcomes := reply.Outcomes()
	if err != nil {
		p = composeProblem(log, k.ct, k.requestID, err)
		outcomes = p.Branches
	}
	m := tracked(c).metrics
	m.accounted(k.ct, total, p)
	m.composed(k.ct, outcomes)
	if p != nil {
		return p
	}
	body, err := marshalJSON(reply)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(body)
}

// branchCaller calls the contracts of a composition's branches as a
// client's sync call would be: the request held to the called contract,
// sent with the composed call's request id and trace, the reply checked.
// Its errors are Problems, which compose reads as Failures.
func branchCaller(b *broker, log *slog.Logger, lim contracts.Limits, requestID, traceparent string, spent *branchAccounts) compose.Caller {
	return func(ctx context.Context, ct *contracts.Contract, body []byte) ([]byte, error) {
		vs, err := ct.ValidateRequestJSON(body, lim)
		if err != nil {
			return nil, invalidRequest(ct, []contracts.Violation{{Keyword: "limits", Message: err.Error()}})
		}
		if len(vs) > 0 {
			return nil, invalidRequest(ct, vs)
		}
		l, p := b.link()
		if p != nil {
			return nil, p
		}
		deadline, ok := ctx.Deadline()
		if !ok {
			deadline = time.Now().Add(ct.Timeout)
		}
		deadline = earliest(deadline, time.Now().Add(ct.Timeout))
		// The call ends when the link does (NATS lost), at the deadline, or
		// when ctx is cancelled.
		cctx, cancel := context.WithDeadline(l.ctx, deadline)
		defer cancel()
		defer context.AfterFunc(ctx, func() {
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				cancel()
			}
		})()
		k := &call{ct: ct, body: body, requestID: requestID, timeout: time.Until(deadline), deadline: deadline, traceparent: traceparent, lim: lim}
		reply, acct, p := exchange(cctx, b, log, k)
		if reply != nil {
			spent.add(acct)
		}
		if p != nil {
			return nil, p
		}
		return reply.Data, nil
	}
}

// branchAccounts sums the usage the branches of one composed call report,
// from the goroutines that call them; nil sums nothing.
type branchAccounts struct {
	mu  sync.Mutex
	sum accounts
}

func (s *branchAccounts) add(a accounts) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sum.usage = append(s.sum.usage, a.usage...)
	s.sum.input += a.input
	s.sum.output += a.output
	s.sum.cost = usage.RoundCost(s.sum.cost + a.cost)
}

// total is the usage so far; attempts are the branches' own (branches).
func (s *branchAccounts) total() accounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sum
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// composeProblem is the answer to a composition that failed: the problem
// of the first failed branch of the step that did not get the branches it
// requires, or the merged result's violations, with every branch's
// outcome in branches.
func composeProblem(log *slog.Logger, ct *contracts.Contract, requestID string, err error) *Problem {
	var se *compose.StepError
	var re *compose.ResultError
	switch {
	case errors.As(err, &se):
		p := branchProblem(se.Cause)
		p.Detail = fmt.Sprintf("%s: step %s got fewer successful branches than it requires (%s): %s", ct.ID(), se.Step, se.Require, p.Detail)
		p.Contract, p.Branches = ct.ID(), se.Branches
		return p
	case errors.As(err, &re):
		log.Warn("composed result breaks the contract", "request_id", requestID, "contract", ct.ID(), "violations", re.Violations)
		p := probInvalidReply.new(fmt.Sprintf("the result merged from the branches broke the %s contract; errors lists every violation", ct.ID()))
		p.Contract, p.Errors, p.Branches = ct.ID(), re.Violations, re.Branches
		return p
	default:
		log.Error("composition failed", "request_id", requestID, "contract", ct.ID(), "err", err)
		return internalError()
	}
}

// branchProblem is a copy of a failed branch's problem, to become the
// composition's; a failure the composition found itself (compose.ErrInput)
// is the 422 or 502 it says.
func branchProblem(cause error) *Problem {
	var p *Problem
	if errors.As(cause, &p) {
		out := *p
		return &out
	}
	var f compose.Failure
	if errors.As(cause, &f) {
		class := &probInvalidReply
		switch f.HTTPStatus() {
		case fiber.StatusUnprocessableEntity:
			class = &probInvalidRequest
		case fiber.StatusForbidden:
			class = &probForbidden
		}
		return class.new(f.ProblemDetail())
	}
	return internalError()
}

// HTTPStatus, ProblemType and ProblemDetail make a Problem a
// compose.Failure.
func (p *Problem) HTTPStatus() int { return p.Status }

// ProblemType is the problem's type URI.
func (p *Problem) ProblemType() string { return p.Type }

// ProblemDetail is the problem's detail.
func (p *Problem) ProblemDetail() string { return p.Detail }
