package api

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/usage"
	"github.com/notebridge/notebridge/gateway/wire"
)

// Response headers of the attempts and usage a sync call's worker reported
// (docs/http-api.md, "Attempts and usage").
const (
	HeaderAttempts     = "Notebridge-Attempts"
	HeaderCost         = "Notebridge-Cost"
	HeaderInputTokens  = "Notebridge-Input-Tokens"
	HeaderOutputTokens = "Notebridge-Output-Tokens"
)

// accounts are the attempts and usage of one call, summed over every
// attempt: a failed attempt costs what it cost.
type accounts struct {
	attempts      int
	usage         []wire.Usage
	input, output int64
	cost          float64
}

// accountsOf reads a worker reply's attempts and usage; a report the
// gateway cannot trust is logged and left out, never fails the call.
func accountsOf(h nats.Header, log *slog.Logger, k *call) accounts {
	var a accounts
	if h == nil {
		return a
	}
	var err error
	if a.attempts, err = wire.ParseAttempts(h.Get(wire.HeaderAttempts)); err != nil {
		log.Warn("worker reply has a bad attempts header", "request_id", k.requestID, "contract", k.ct.ID(), "err", err)
	}
	if a.usage, err = wire.ParseUsage(h.Get(wire.HeaderUsage)); err != nil {
		log.Warn("worker reply has a bad usage header", "request_id", k.requestID, "contract", k.ct.ID(), "err", err)
	}
	for _, u := range a.usage {
		a.input += u.InputTokens
		a.output += u.OutputTokens
		a.cost += u.Cost
	}
	a.cost = usage.RoundCost(a.cost)
	return a
}

// setHeaders tells the client the call's attempts and its summed usage.
func (a accounts) setHeaders(c *fiber.Ctx) {
	if a.attempts > 0 {
		c.Set(HeaderAttempts, strconv.Itoa(a.attempts))
	}
	if len(a.usage) > 0 {
		c.Set(HeaderInputTokens, strconv.FormatInt(a.input, 10))
		c.Set(HeaderOutputTokens, strconv.FormatInt(a.output, 10))
		c.Set(HeaderCost, strconv.FormatFloat(a.cost, 'f', -1, 64))
	}
}

// maxModelLabels bounds the model label's values: models are named by
// workers, and a metric's series must not grow without bound.
const maxModelLabels = 64

// accounted records a sync call's attempts, its repair outcome (contracts
// with repair) and its usage; p is the call's problem, nil on success.
func (m *Metrics) accounted(ct *contracts.Contract, a accounts, p *Problem) {
	if m == nil {
		return
	}
	name, version := ct.Name, strconv.Itoa(ct.Version)
	if ct.Repair != nil {
		m.attempts.WithLabelValues(name, version).Add(float64(max(a.attempts, 1)))
		outcome := "failed"
		switch {
		case p == nil && a.attempts > 1:
			outcome = "repaired"
		case p == nil:
			outcome = "first_attempt"
		case p.Type == problemType(probInvalidReply.slug):
			outcome = "unrepaired"
		}
		m.repairs.WithLabelValues(name, version, outcome).Inc()
	}
	for _, u := range a.usage {
		model := m.models.label(u.Model)
		m.tokens.WithLabelValues(name, version, model, "input").Add(float64(u.InputTokens))
		m.tokens.WithLabelValues(name, version, model, "output").Add(float64(u.OutputTokens))
		m.cost.WithLabelValues(name, version, model).Add(u.Cost)
	}
}

// labelSet admits the first n distinct values of a label; later ones
// become "other".
type labelSet struct {
	mu   sync.Mutex
	seen map[string]bool
	n    int
}

func newLabelSet(n int) *labelSet { return &labelSet{seen: map[string]bool{}, n: n} }

func (s *labelSet) label(v string) string {
	if v == "" {
		return "unknown"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[v] {
		return v
	}
	if len(s.seen) >= s.n {
		return "other"
	}
	s.seen[v] = true
	return v
}

// accountant reserves a sync call's estimate in its key's budgets before
// the call, settles them with what the call reported after, and records
// the call's usage in the ledger. A nil accountant does none of it.
type accountant struct {
	budgets *usage.Budgets // nil: no budgets
	ledger  *usage.Ledger  // nil: no ledger
	log     *slog.Logger

	records chan usage.Call
	stopped chan struct{}

	mu      sync.Mutex
	largest map[string]usage.Totals // per contract version: the most one call has reported
}

// recordQueue bounds the usage records waiting for the ledger; past it
// they are dropped, and logged.
const recordQueue = 4096

// ledgerWait bounds the NATS work of one budget or ledger step.
const ledgerWait = 2 * time.Second

func newAccountant(budgets *usage.Budgets, ledger *usage.Ledger, log *slog.Logger) *accountant {
	if budgets == nil && ledger == nil {
		return nil
	}
	a := &accountant{budgets: budgets, ledger: ledger, log: log, largest: map[string]usage.Totals{},
		records: make(chan usage.Call, recordQueue), stopped: make(chan struct{})}
	go a.recordAll()
	return a
}

// recordAll writes the queued records to the ledger, one at a time, off
// the calls' path, until close.
func (a *accountant) recordAll() {
	defer close(a.stopped)
	for call := range a.records {
		ctx, cancel := context.WithTimeout(context.Background(), ledgerWait)
		if err := a.ledger.Record(ctx, call); err != nil {
			a.log.Warn("usage not recorded", "contract", call.Name, "version", call.Version, "err", err)
		}
		cancel()
	}
}

// close writes the records still queued, within wait.
func (a *accountant) close(wait time.Duration) {
	if a == nil {
		return
	}
	close(a.records)
	select {
	case <-a.stopped:
	case <-time.After(wait):
	}
}

// estimate is what a call of ct holds of a budget while it runs: the
// contract's declared ceilings (repair's max_tokens and max_cost), else
// the most one call has reported to this gateway.
func (a *accountant) estimate(ct *contracts.Contract) (int64, float64) {
	a.mu.Lock()
	seen := a.largest[ct.ID()]
	a.mu.Unlock()
	tokens, cost := seen.InputTokens+seen.OutputTokens, seen.Cost
	if r := ct.Repair; r != nil {
		if r.MaxTokens > 0 {
			tokens = r.MaxTokens
		}
		if r.MaxCost > 0 {
			cost = r.MaxCost
		}
	}
	return tokens, cost
}

// reserve holds the call's estimate in its key's budgets; a *Problem when
// one is spent (402) or cannot be checked (503).
func (a *accountant) reserve(c *fiber.Ctx, k *call) (*usage.Reservation, error) {
	key := keyOf(c)
	if a == nil || a.budgets == nil || key == nil || len(key.Budgets) == 0 {
		return nil, nil
	}
	tokens, cost := a.estimate(k.ct)
	ctx, cancel := context.WithTimeout(c.UserContext(), ledgerWait)
	defer cancel()
	now := time.Now()
	res, err := a.budgets.Reserve(ctx, key, k.ct.Name, k.ct.Version, tokens, cost, now)
	var exhausted *usage.ExhaustedError
	switch {
	case errors.As(err, &exhausted):
		return nil, budgetExhausted(k.ct, exhausted, now)
	case err != nil:
		return nil, budgetStateUnavailable(err)
	}
	return res, nil
}

// settle ends the call's reservation with what it reported, and queues
// its usage for the ledger under its key's id (owner, "" without keys).
// It takes no fiber.Ctx: a stream settles after its handler returned.
func (a *accountant) settle(k *call, owner string, res *usage.Reservation, acct accounts) {
	if a == nil {
		return
	}
	if len(acct.usage) > 0 {
		a.mu.Lock()
		seen := a.largest[k.ct.ID()]
		if acct.input+acct.output > seen.InputTokens+seen.OutputTokens || acct.cost > seen.Cost {
			a.largest[k.ct.ID()] = usage.Totals{InputTokens: max(acct.input+acct.output, seen.InputTokens), Cost: max(acct.cost, seen.Cost)}
		}
		a.mu.Unlock()
	}
	if res != nil {
		ctx, cancel := context.WithTimeout(context.Background(), ledgerWait)
		if err := a.budgets.Settle(ctx, res, acct.input+acct.output, acct.cost); err != nil {
			a.log.Warn("budget not settled", "request_id", k.requestID, "contract", k.ct.ID(), "err", err)
		}
		cancel()
	}
	if a.ledger == nil || (len(acct.usage) == 0 && acct.attempts == 0) {
		return
	}
	select {
	case a.records <- usage.Call{At: time.Now(), Name: k.ct.Name, Version: k.ct.Version, Key: owner, Attempts: acct.attempts, Usage: acct.usage}:
	default:
		a.log.Warn("usage not recorded: the ledger's queue is full", "request_id", k.requestID, "contract", k.ct.ID())
	}
}
