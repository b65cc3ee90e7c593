package keys_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/internal/natstest"
	"github.com/notebridge/notebridge/gateway/keys"
)

// Two replicas' limiters on one NATS hold one key to its burst together,
// even when they decide at the same moment.
func TestRateLimitHoldsAcrossReplicas(t *testing.T) {
	ns, nc, _ := natstest.JetStream(t)
	other := natstest.Conn(t, ns)
	jsOther, err := jetstream.New(other)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	replicas := []*keys.Limiter{keys.NewLimiter(js), keys.NewLimiter(jsOther)}
	// One call every 100 s once the burst of 5 is spent: no refill during the test.
	k := &keys.Key{ID: "0123456789ab", Name: "shop", Contracts: []string{"*"}, Rate: 0.01, Burst: 5}
	ctx := context.Background()

	var mu sync.Mutex
	allowed, refused := 0, 0
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := replicas[i%2].Allow(ctx, k)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if d.Allowed {
				allowed++
				return
			}
			refused++
			if d.RetryAfter <= 0 || d.Remaining != 0 || d.Limit != 5 {
				t.Errorf("a refusal: %+v; want a wait, 0 remaining, limit 5", d)
			}
		}()
	}
	wg.Wait()
	if allowed != 5 || refused != 15 {
		t.Errorf("allowed %d, refused %d; want 5 and 15", allowed, refused)
	}
}

func TestRateLimitRefills(t *testing.T) {
	_, nc, _ := natstest.JetStream(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	l := keys.NewLimiter(js)
	k := &keys.Key{ID: "ba9876543210", Name: "fast", Contracts: []string{"*"}, Rate: 20, Burst: 2}
	ctx := context.Background()
	var remaining []int
	for range 2 {
		d, err := l.Allow(ctx, k)
		if err != nil || !d.Allowed {
			t.Fatalf("a call within the burst: %+v, %v", d, err)
		}
		remaining = append(remaining, d.Remaining)
	}
	if remaining[0] != 1 || remaining[1] != 0 {
		t.Errorf("remaining %v; want [1 0]", remaining)
	}
	d, err := l.Allow(ctx, k)
	if err != nil || d.Allowed {
		t.Fatalf("a third call at once: %+v, %v; want refused", d, err)
	}
	time.Sleep(d.RetryAfter + 10*time.Millisecond) // a bound on the wait, as the client would read Retry-After
	if d, err := l.Allow(ctx, k); err != nil || !d.Allowed {
		t.Errorf("after Retry-After: %+v, %v; want allowed", d, err)
	}
	// A key without a rate is never refused.
	free := &keys.Key{ID: "aaaaaaaaaaaa", Name: "free", Contracts: []string{"*"}}
	for range 50 {
		if d, err := l.Allow(ctx, free); err != nil || !d.Allowed {
			t.Fatalf("a key without a rate: %+v, %v", d, err)
		}
	}
}
