package jobs_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/internal/natstest"
	"github.com/notebridge/notebridge/gateway/jobs"
	"github.com/notebridge/notebridge/gateway/webhook"
	"github.com/notebridge/notebridge/gateway/wire"
)

// jetStream starts a NATS server with JetStream in a temporary directory.
func jetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	_, _, js := natstest.JetStream(t)
	return js
}

func TestEnsureIsIdempotentAndFollowsTheTTL(t *testing.T) {
	js := jetStream(t)
	ctx := context.Background()
	for _, ttl := range []time.Duration{time.Hour, time.Hour, 2 * time.Hour} {
		if err := jobs.Ensure(ctx, js, ttl, nil); err != nil {
			t.Fatalf("Ensure(%s): %v", ttl, err)
		}
		kv, err := js.KeyValue(ctx, wire.JobBucket)
		if err != nil {
			t.Fatal(err)
		}
		status, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s, err := js.Stream(ctx, wire.JobStream)
		if err != nil {
			t.Fatal(err)
		}
		cfg := s.CachedInfo().Config
		if status.TTL() != ttl || cfg.MaxAge != ttl || cfg.Retention != jetstream.WorkQueuePolicy || cfg.Subjects[0] != "nb.jobs.*.*" {
			t.Errorf("got bucket TTL %s, stream max age %s, retention %s, subjects %v; want %s, %s, workqueue, [nb.jobs.*.*]",
				status.TTL(), cfg.MaxAge, cfg.Retention, cfg.Subjects, ttl, ttl)
		}
	}
}

func TestEnsureRefusesAStreamItCannotFix(t *testing.T) {
	js := jetStream(t)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: wire.JobStream, Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	if err := jobs.Ensure(ctx, js, time.Hour, nil); !errors.Is(err, jobs.ErrStreamConflict) {
		t.Errorf("got %v; want ErrStreamConflict", err)
	}
}

func TestStoreUpdateLosesNoWrite(t *testing.T) {
	js := jetStream(t)
	ctx := context.Background()
	if err := jobs.Ensure(ctx, js, time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	store, err := jobs.OpenStore(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Create(ctx, &jobs.Record{ID: "j1", Status: jobs.Queued}); err != nil {
		t.Fatal(err)
	}
	if err := store.Create(ctx, &jobs.Record{ID: "j1", Status: jobs.Queued}); !errors.Is(err, jobs.ErrExists) {
		t.Errorf("second Create: got %v; want ErrExists", err)
	}
	const writers = 8
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := store.Update(ctx, "j1", func(r *jobs.Record) error { r.Attempts++; return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	r, _, err := store.Get(ctx, "j1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Attempts != writers {
		t.Errorf("attempts = %d after %d concurrent increments; want %d", r.Attempts, writers, writers)
	}
	if _, _, err := store.Get(ctx, "j2"); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("Get of an unknown job: got %v; want ErrNotFound", err)
	}
}

func TestConfigValidate(t *testing.T) {
	allow, err := webhook.ParseAllowList("127.0.0.1:9000")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  jobs.Config
		want error
	}{
		{"zero", jobs.Config{}, nil},
		{"allow-list with a secret", jobs.Config{WebhookAllow: allow, Webhook: webhook.Sender{Secret: "s"}}, nil},
		{"allow-list without a secret", jobs.Config{WebhookAllow: allow}, jobs.ErrInvalidConfig},
		{"negative TTL", jobs.Config{TTL: -time.Second}, jobs.ErrInvalidConfig},
		{"backoff over the cap", jobs.Config{Webhook: webhook.Sender{MaxBackoff: time.Hour}}, jobs.ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("got %v; want %v", err, tt.want)
			}
		})
	}
}
