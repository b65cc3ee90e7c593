package keys

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Budget periods: a budget's spending starts again at each period's start,
// in UTC.
const (
	PeriodHour  = "hour"
	PeriodDay   = "day"
	PeriodMonth = "month"
)

// Budget bounds what a key may spend per period, in tokens (input and
// output), in cost (the handlers' currency unit), or both, on every
// contract or on one (name, or name/vN).
type Budget struct {
	Period   string  `json:"period"`
	Tokens   int64   `json:"tokens,omitempty"`
	Cost     float64 `json:"cost,omitempty"`
	Contract string  `json:"contract,omitempty"`
}

// Applies reports whether the budget covers calls of version of contract name.
func (b Budget) Applies(name string, version int) bool {
	return b.Contract == "" || b.Contract == name || b.Contract == name+"/v"+strconv.Itoa(version)
}

// Start is the start of the period that holds t.
func (b Budget) Start(t time.Time) time.Time {
	t = t.UTC()
	switch b.Period {
	case PeriodHour:
		return t.Truncate(time.Hour)
	case PeriodMonth:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	default:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
}

// Next is the start of the period after the one that holds t: when the
// budget is whole again.
func (b Budget) Next(t time.Time) time.Time {
	s := b.Start(t)
	switch b.Period {
	case PeriodHour:
		return s.Add(time.Hour)
	case PeriodMonth:
		return s.AddDate(0, 1, 0)
	default:
		return s.AddDate(0, 0, 1)
	}
}

// String says the budget as ParseBudget reads it.
func (b Budget) String() string {
	var parts []string
	if b.Tokens > 0 {
		parts = append(parts, "tokens="+strconv.FormatInt(b.Tokens, 10))
	}
	if b.Cost > 0 {
		parts = append(parts, "cost="+strconv.FormatFloat(b.Cost, 'f', -1, 64))
	}
	parts = append(parts, "per="+b.Period)
	if b.Contract != "" {
		parts = append(parts, "contract="+b.Contract)
	}
	return strings.Join(parts, ",")
}

var budgetContract = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}(/v[1-9][0-9]*)?$`)

// ParseBudget reads "cost=5,per=day", "tokens=100000,per=month,contract=flowchart".
func ParseBudget(s string) (Budget, error) {
	var b Budget
	for _, field := range strings.Split(s, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(field), "=")
		var err error
		switch name {
		case "tokens":
			b.Tokens, err = strconv.ParseInt(value, 10, 64)
		case "cost":
			b.Cost, err = strconv.ParseFloat(value, 64)
		case "per":
			b.Period = value
		case "contract":
			b.Contract = value
		default:
			err = fmt.Errorf("unknown field %q", name)
		}
		if err != nil {
			return Budget{}, fmt.Errorf("%w: budget %q: %v", ErrInvalid, s, err)
		}
	}
	return b, b.validate()
}

func (b Budget) validate() error {
	switch {
	case b.Period != PeriodHour && b.Period != PeriodDay && b.Period != PeriodMonth:
		return fmt.Errorf("%w: budget %s: per must be hour, day or month", ErrInvalid, b)
	case b.Tokens < 0 || b.Cost < 0 || math.IsNaN(b.Cost) || math.IsInf(b.Cost, 0) || (b.Tokens == 0 && b.Cost == 0):
		return fmt.Errorf("%w: budget %s: give tokens > 0, a finite cost > 0, or both", ErrInvalid, b)
	case b.Contract != "" && !budgetContract.MatchString(b.Contract):
		return fmt.Errorf("%w: budget %s: contract must be name or name/vN", ErrInvalid, b)
	}
	return nil
}

// MaxBudgets bounds a key's budgets: each one that applies costs a call
// two JetStream updates.
const MaxBudgets = 8

// WithBudget gives the key a budget; a key may have up to MaxBudgets, and
// a call must fit in every one that applies to it.
func WithBudget(b Budget) Option {
	return func(k *Key) error {
		if err := b.validate(); err != nil {
			return err
		}
		if len(k.Budgets) >= MaxBudgets {
			return fmt.Errorf("%w: a key has at most %d budgets", ErrInvalid, MaxBudgets)
		}
		k.Budgets = append(k.Budgets, b)
		return nil
	}
}

// WithUsageReader lets the key read every key's usage at GET /usage; other
// keys see their own.
func WithUsageReader() Option {
	return func(k *Key) error {
		k.UsageReader = true
		return nil
	}
}
