package usage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/internal/jsplace"
	"github.com/notebridge/notebridge/gateway/keys"
	"github.com/notebridge/notebridge/gateway/wire"
)

// budgetStateTTL outlives the longest period, a month.
const budgetStateTTL = 35 * 24 * time.Hour

// ExhaustedError is Reserve's error when a call does not fit in a budget.
type ExhaustedError struct {
	Budget   keys.Budget
	ResetsAt time.Time
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("budget %s is spent until %s", e.Budget, e.ResetsAt.Format(time.RFC3339))
}

// spending is one budget's state in one period: what settled calls spent
// and what calls under way hold.
type spending struct {
	SpentTokens    int64   `json:"spent_tokens"`
	SpentCost      float64 `json:"spent_cost"`
	ReservedTokens int64   `json:"reserved_tokens"`
	ReservedCost   float64 `json:"reserved_cost"`
}

// admits reports whether a call holding tokens and cost fits: something
// must be left, and the hold must fit in what is left.
func (s spending) admits(b keys.Budget, tokens int64, cost float64) bool {
	if b.Tokens > 0 {
		used := s.SpentTokens + s.ReservedTokens
		if used >= b.Tokens || used+tokens > b.Tokens {
			return false
		}
	}
	if b.Cost > 0 {
		used := s.SpentCost + s.ReservedCost
		if used >= b.Cost || used+cost > b.Cost+costEpsilon {
			return false
		}
	}
	return true
}

// costEpsilon absorbs float rounding: twenty holds of 0.05 fit in 1.
const costEpsilon = 1e-9

// Reservation is what one call holds of its key's budgets, from Reserve to
// Settle.
type Reservation struct {
	held   []string // state keys
	tokens int64
	cost   float64
}

// Budgets enforces API keys' budgets across gateway replicas: each call
// reserves its estimate in every budget that applies before it is sent,
// and settles with what it reported after, in the bucket wire.BudgetBucket
// by compare-and-set.
type Budgets struct {
	spending *jsplace.Bucket
}

// NewBudgets returns the budgets of js; the bucket is opened, or created,
// on first use.
func NewBudgets(js jetstream.JetStream) *Budgets {
	return &Budgets{spending: jsplace.NewBucket(js, jetstream.KeyValueConfig{
		Bucket: wire.BudgetBucket, History: 1, TTL: budgetStateTTL, Storage: jetstream.FileStorage,
		Description: "notebridge API keys' budget spending per period: spent and held by calls under way",
	})}
}

// Reserve holds tokens and cost in every budget of k that applies to
// version of contract name, or returns an *ExhaustedError naming the first
// budget it does not fit in (holding nothing then). A key without budgets
// gets a nil Reservation.
func (b *Budgets) Reserve(ctx context.Context, k *keys.Key, name string, version int, tokens int64, cost float64, now time.Time) (*Reservation, error) {
	var applies []int
	for i, bg := range k.Budgets {
		if bg.Applies(name, version) {
			applies = append(applies, i)
		}
	}
	if len(applies) == 0 {
		return nil, nil
	}
	kv, err := b.spending.Open(ctx)
	if err != nil {
		return nil, err
	}
	r := &Reservation{tokens: tokens, cost: cost}
	for _, i := range applies {
		bg := k.Budgets[i]
		key := k.ID + ".b" + strconv.Itoa(i) + "." + bg.Start(now).Format("2006010215")
		err := update(ctx, kv, key, func(s *spending) error {
			if !s.admits(bg, tokens, cost) {
				return &ExhaustedError{Budget: bg, ResetsAt: bg.Next(now)}
			}
			s.ReservedTokens += tokens
			s.ReservedCost += cost
			return nil
		})
		if err != nil {
			b.Settle(ctx, r, 0, 0) // release what this call holds already
			return nil, err
		}
		r.held = append(r.held, key)
	}
	return r, nil
}

// Settle ends a reservation: what it held is released and what the call
// reported, tokens and cost, is spent. A failure is returned for the log;
// the call is answered anyway.
func (b *Budgets) Settle(ctx context.Context, r *Reservation, tokens int64, cost float64) error {
	if r == nil || len(r.held) == 0 {
		return nil
	}
	kv, err := b.spending.Open(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, key := range r.held {
		errs = append(errs, update(ctx, kv, key, func(s *spending) error {
			s.ReservedTokens = max(s.ReservedTokens-r.tokens, 0)
			s.ReservedCost = max(s.ReservedCost-r.cost, 0)
			s.SpentTokens += tokens
			s.SpentCost += cost
			return nil
		}))
	}
	r.held = nil
	return errors.Join(errs...)
}

// update applies change to the spending under key by compare-and-set;
// change's error stops it.
func update(ctx context.Context, kv jetstream.KeyValue, key string, change func(*spending) error) error {
	return compareAndSet(ctx, kv, key, func(old []byte) ([]byte, error) {
		var s spending
		if old != nil {
			if err := json.Unmarshal(old, &s); err != nil {
				return nil, fmt.Errorf("budget state %s: %w", key, err)
			}
		}
		if err := change(&s); err != nil {
			return nil, err
		}
		return json.Marshal(s)
	})
}
