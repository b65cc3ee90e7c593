package usage_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/internal/natstest"
	"github.com/notebridge/notebridge/gateway/keys"
	"github.com/notebridge/notebridge/gateway/usage"
	"github.com/notebridge/notebridge/gateway/wire"
)

func TestLedgerSumsCallsPerDayContractKeyAndModel(t *testing.T) {
	_, _, js := natstest.JetStream(t)
	l := usage.NewLedger(js, 0)
	ctx := context.Background()
	day1 := time.Date(2026, 12, 3, 23, 59, 0, 0, time.UTC)
	day2 := day1.Add(2 * time.Minute)
	calls := []usage.Call{
		{At: day1, Name: "flowchart", Version: 1, Key: "aaaaaaaaaaaa", Attempts: 2, Usage: []wire.Usage{
			{Attempt: 1, Model: "gpt-4.1 mini", InputTokens: 10, OutputTokens: 5, Cost: 0.5},
			{Attempt: 2, Model: "gpt-4.1 mini", InputTokens: 20, OutputTokens: 5, Cost: 0.25},
		}},
		{At: day1, Name: "flowchart", Version: 1, Key: "aaaaaaaaaaaa", Attempts: 1, Usage: []wire.Usage{{Attempt: 1, Model: "other", InputTokens: 1}}},
		{At: day2, Name: "flowchart", Version: 1, Key: "bbbbbbbbbbbb", Attempts: 1},
		{At: day2, Name: "sentiment", Version: 1, Usage: []wire.Usage{{Attempt: 1, Cost: 1}}},
	}
	for _, c := range calls {
		if err := l.Record(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name         string
		since, until time.Time
		contract     string
		key          string
		want         map[string]usage.Totals // by day|contract|key|model
	}{
		{"everything", day1, day2, "", "", map[string]usage.Totals{
			"2026-12-03|flowchart/v1|aaaaaaaaaaaa|gpt-4.1 mini": {Calls: 1, Attempts: 2, InputTokens: 30, OutputTokens: 10, Cost: 0.75},
			"2026-12-03|flowchart/v1|aaaaaaaaaaaa|other":        {Calls: 1, Attempts: 1, InputTokens: 1},
			"2026-12-04|flowchart/v1|bbbbbbbbbbbb|":             {Calls: 1, Attempts: 1},
			"2026-12-04|sentiment/v1||":                         {Calls: 1, Attempts: 1, Cost: 1},
		}},
		{"one day", day2, day2, "", "", map[string]usage.Totals{
			"2026-12-04|flowchart/v1|bbbbbbbbbbbb|": {Calls: 1, Attempts: 1},
			"2026-12-04|sentiment/v1||":             {Calls: 1, Attempts: 1, Cost: 1},
		}},
		{"one contract by name", day1, day2, "sentiment", "", map[string]usage.Totals{
			"2026-12-04|sentiment/v1||": {Calls: 1, Attempts: 1, Cost: 1},
		}},
		{"one version of one key", day1, day2, "flowchart/v1", "bbbbbbbbbbbb", map[string]usage.Totals{
			"2026-12-04|flowchart/v1|bbbbbbbbbbbb|": {Calls: 1, Attempts: 1},
		}},
		{"no such version", day1, day2, "flowchart/v2", "", map[string]usage.Totals{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := l.Rows(ctx, tt.since, tt.until, tt.contract, tt.key)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]usage.Totals{}
			for _, r := range rows {
				got[r.Day+"|"+r.Contract+"|"+r.Key+"|"+r.Model] = r.Totals
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d rows %v; want %d %v", len(got), got, len(tt.want), tt.want)
			}
			for k, w := range tt.want {
				if g := got[k]; g != w {
					t.Errorf("%s: got %+v; want %+v", k, g, w)
				}
			}
		})
	}
}

// A budget for 20 calls admits 20 of 100 concurrent calls, whichever of
// two gateways (two connections, two Budgets) they reach.
func TestBudgetAdmitsWhatFitsAcrossReplicas(t *testing.T) {
	ns, _, _ := natstest.JetStream(t)
	var replicas []*usage.Budgets
	for range 2 {
		js, err := jetstream.New(natstest.Conn(t, ns))
		if err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, usage.NewBudgets(js))
	}
	key := &keys.Key{ID: "cccccccccccc", Name: "team", Budgets: []keys.Budget{{Period: keys.PeriodDay, Cost: 1}}}
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var admitted, refused atomic.Int64
	var held sync.Map
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := replicas[i%2].Reserve(ctx, key, "flowchart", 1, 0, 0.05, now)
			var exhausted *usage.ExhaustedError
			switch {
			case errors.As(err, &exhausted):
				refused.Add(1)
				if want := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC); !exhausted.ResetsAt.Equal(want) {
					t.Errorf("resets at %s; want %s", exhausted.ResetsAt, want)
				}
			case err != nil:
				t.Error(err)
			default:
				admitted.Add(1)
				held.Store(i, res)
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != 20 || refused.Load() != 80 {
		t.Fatalf("admitted %d, refused %d; want 20 and 80", admitted.Load(), refused.Load())
	}
	// The calls spent less than they held: the difference is free again.
	held.Range(func(_, res any) bool {
		if err := replicas[0].Settle(ctx, res.(*usage.Reservation), 10, 0.04); err != nil {
			t.Error(err)
		}
		return true
	})
	admittedAfter := 0
	for range 10 {
		if _, err := replicas[1].Reserve(ctx, key, "flowchart", 1, 0, 0.05, now); err == nil {
			admittedAfter++
		}
	}
	if admittedAfter != 4 { // 20 × 0.04 = 0.8 spent: four more holds of 0.05 fit
		t.Errorf("after settling, %d more calls fit; want 4", admittedAfter)
	}
	// The next day the budget is whole again.
	if _, err := replicas[0].Reserve(ctx, key, "flowchart", 1, 0, 0.05, now.Add(24*time.Hour)); err != nil {
		t.Errorf("the next day: %v; want admitted", err)
	}
}

func TestBudgetsApplyByContractAndTokens(t *testing.T) {
	_, _, js := natstest.JetStream(t)
	b := usage.NewBudgets(js)
	key := &keys.Key{ID: "dddddddddddd", Budgets: []keys.Budget{
		{Period: keys.PeriodHour, Tokens: 100, Contract: "flowchart/v1"},
	}}
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 10, 30, 0, 0, time.UTC)
	if res, err := b.Reserve(ctx, key, "sentiment", 1, 1000, 0, now); err != nil || res != nil {
		t.Fatalf("another contract: %v, %v; want no reservation", res, err)
	}
	res, err := b.Reserve(ctx, key, "flowchart", 1, 60, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	var exhausted *usage.ExhaustedError
	if _, err := b.Reserve(ctx, key, "flowchart", 1, 60, 0, now); !errors.As(err, &exhausted) {
		t.Fatalf("a second hold of 60 of 100 tokens: %v; want exhausted", err)
	}
	if want := time.Date(2026, 12, 4, 11, 0, 0, 0, time.UTC); !exhausted.ResetsAt.Equal(want) {
		t.Errorf("resets at %s; want %s", exhausted.ResetsAt, want)
	}
	if err := b.Settle(ctx, res, 30, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Reserve(ctx, key, "flowchart", 1, 60, 0, now); err != nil {
		t.Errorf("after settling 30 of the 60 held: %v; want admitted", err)
	}
}
