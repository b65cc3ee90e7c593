package keys_test

import (
	"errors"
	"testing"
	"time"

	"github.com/notebridge/notebridge/gateway/keys"
)

func TestParseBudget(t *testing.T) {
	tests := []struct {
		in   string
		want keys.Budget
		ok   bool
	}{
		{"cost=5,per=day", keys.Budget{Period: "day", Cost: 5}, true},
		{"tokens=100000, per=month, contract=flowchart", keys.Budget{Period: "month", Tokens: 100000, Contract: "flowchart"}, true},
		{"cost=0.5,tokens=10,per=hour,contract=flowchart/v2", keys.Budget{Period: "hour", Cost: 0.5, Tokens: 10, Contract: "flowchart/v2"}, true},
		{"cost=5", keys.Budget{}, false},
		{"per=day", keys.Budget{}, false},
		{"cost=-1,per=day", keys.Budget{}, false},
		{"cost=NaN,per=day", keys.Budget{}, false},
		{"cost=Inf,per=day", keys.Budget{}, false},
		{"tokens=1.5,per=day", keys.Budget{}, false},
		{"cost=5,per=week", keys.Budget{}, false},
		{"cost=5,per=day,contract=Flow", keys.Budget{}, false},
		{"cost=5,per=day,when=now", keys.Budget{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := keys.ParseBudget(tt.in)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, keys.ErrInvalid)) {
				t.Fatalf("ParseBudget(%q) error %v; want ok %v (or ErrInvalid)", tt.in, err, tt.ok)
			}
			if tt.ok && got != tt.want {
				t.Errorf("ParseBudget(%q) = %+v; want %+v", tt.in, got, tt.want)
			}
			if tt.ok {
				if again, err := keys.ParseBudget(got.String()); err != nil || again != got {
					t.Errorf("String() %q does not parse back: %+v, %v", got.String(), again, err)
				}
			}
		})
	}
}

func TestBudgetPeriods(t *testing.T) {
	at := time.Date(2026, 12, 31, 23, 30, 0, 0, time.FixedZone("UTC+2", 2*3600)) // 21:30 UTC
	tests := []struct {
		period      string
		start, next time.Time
	}{
		{keys.PeriodHour, time.Date(2026, 12, 31, 21, 0, 0, 0, time.UTC), time.Date(2026, 12, 31, 22, 0, 0, 0, time.UTC)},
		{keys.PeriodDay, time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{keys.PeriodMonth, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		b := keys.Budget{Period: tt.period, Cost: 1}
		if got := b.Start(at); !got.Equal(tt.start) {
			t.Errorf("%s: Start = %s; want %s", tt.period, got, tt.start)
		}
		if got := b.Next(at); !got.Equal(tt.next) {
			t.Errorf("%s: Next = %s; want %s", tt.period, got, tt.next)
		}
	}
}

func TestAKeyHasAtMostMaxBudgets(t *testing.T) {
	k := &keys.Key{}
	b := keys.Budget{Period: keys.PeriodDay, Cost: 1}
	for i := range keys.MaxBudgets {
		if err := keys.WithBudget(b)(k); err != nil {
			t.Fatalf("budget %d: %v", i+1, err)
		}
	}
	if err := keys.WithBudget(b)(k); !errors.Is(err, keys.ErrInvalid) {
		t.Errorf("budget %d: %v; want ErrInvalid", keys.MaxBudgets+1, err)
	}
}
