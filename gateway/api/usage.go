package api

import (
	"log/slog"
	"strconv"
	"sync"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"

	"github.com/notebridge/notebridge/gateway/contracts"
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
