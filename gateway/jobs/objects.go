package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/wire"
)

// ErrStreamConflict is returned by Ensure when a stream of the name it
// needs exists with a retention it cannot change.
var ErrStreamConflict = errors.New("jobs: stream exists with another retention")

// hookAckWait is how long a gateway may hold a webhook delivery without a
// sign of life before another gateway takes it over; a delivery renews it
// before every attempt and every wait, and no wait is longer than a minute.
const hookAckWait = 2 * time.Minute

// hookMaxDeliver bounds how often a webhook delivery is handed to a
// gateway; more than one only happens when gateways die mid-delivery.
const hookMaxDeliver = 5

// ConsumerConfig is the durable pull consumer the workers of a job
// contract share (docs/protocol.md). Gateways create it; a worker may
// create-or-update it with this exact config, which changes nothing.
func ConsumerConfig(ct *contracts.Contract) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       wire.JobConsumer(ct.Name, ct.Version),
		FilterSubject: ct.Subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ct.AckWait,
		MaxDeliver:    ct.MaxAttempts,
	}
}

// Ensure creates, or brings up to date, every JetStream object of job
// mode: the job stream, the bucket (its TTL is ttl), the stream that keeps
// max-deliveries advisories, the webhook stream, their consumers, and a
// consumer per job contract in cts. It only changes what it owns (subjects,
// retention, age limits, TTL, consumer configs): an operator's replicas or
// placement stay. Running it from several gateways at once is safe.
func Ensure(ctx context.Context, js jetstream.JetStream, ttl time.Duration, cts []*contracts.Contract) error {
	streams := []jetstream.StreamConfig{
		{Name: wire.JobStream, Subjects: []string{wire.JobStreamSubjects}, Retention: jetstream.WorkQueuePolicy,
			Storage: jetstream.FileStorage, MaxAge: ttl, Description: "notebridge jobs waiting for a worker"},
		{Name: wire.JobAdvisoryStream, Subjects: []string{wire.JobAdvisorySubjects}, Retention: jetstream.WorkQueuePolicy,
			Storage: jetstream.FileStorage, MaxAge: ttl, Description: "notebridge: jobs JetStream gave up on"},
		{Name: wire.HookStream, Subjects: []string{wire.HookStreamSubjects}, Retention: jetstream.WorkQueuePolicy,
			Storage: jetstream.FileStorage, MaxAge: ttl, Description: "notebridge: webhooks to deliver"},
	}
	for _, cfg := range streams {
		if err := ensureStream(ctx, js, cfg); err != nil {
			return err
		}
	}
	if err := ensureBucket(ctx, js, ttl); err != nil {
		return err
	}
	consumers := []struct {
		stream string
		cfg    jetstream.ConsumerConfig
	}{
		{wire.JobAdvisoryStream, jetstream.ConsumerConfig{Durable: wire.JobAdvisoryConsumer,
			AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second}},
		{wire.HookStream, jetstream.ConsumerConfig{Durable: wire.HookConsumer,
			AckPolicy: jetstream.AckExplicitPolicy, AckWait: hookAckWait, MaxDeliver: hookMaxDeliver}},
	}
	for _, ct := range cts {
		if ct.Mode == contracts.ModeJob {
			consumers = append(consumers, struct {
				stream string
				cfg    jetstream.ConsumerConfig
			}{wire.JobStream, ConsumerConfig(ct)})
		}
	}
	for _, c := range consumers {
		if _, err := js.CreateOrUpdateConsumer(ctx, c.stream, c.cfg); err != nil {
			return fmt.Errorf("consumer %s on %s: %w", c.cfg.Durable, c.stream, err)
		}
	}
	return nil
}

func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) error {
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another gateway was quicker
			return ensureStream(ctx, js, want)
		}
		if err != nil {
			return fmt.Errorf("stream %s: %w", want.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", want.Name, err)
	}
	cur := s.CachedInfo().Config
	if cur.Retention != want.Retention {
		return fmt.Errorf("%w: %s has %s retention; want %s", ErrStreamConflict, want.Name, cur.Retention, want.Retention)
	}
	if slices.Equal(cur.Subjects, want.Subjects) && cur.MaxAge == want.MaxAge {
		return nil
	}
	cur.Subjects, cur.MaxAge = want.Subjects, want.MaxAge
	if _, err := js.UpdateStream(ctx, cur); err != nil {
		return fmt.Errorf("stream %s: %w", want.Name, err)
	}
	return nil
}

func ensureBucket(ctx context.Context, js jetstream.JetStream, ttl time.Duration) error {
	kv, err := js.KeyValue(ctx, wire.JobBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		_, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: wire.JobBucket, TTL: ttl, History: 1, Storage: jetstream.FileStorage,
			Description: "notebridge job records and idempotency keys",
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			return ensureBucket(ctx, js, ttl)
		}
		if err != nil {
			return fmt.Errorf("bucket %s: %w", wire.JobBucket, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("bucket %s: %w", wire.JobBucket, err)
	}
	status, err := kv.Status(ctx)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", wire.JobBucket, err)
	}
	if status.TTL() == ttl {
		return nil
	}
	cfg := status.Config()
	cfg.TTL = ttl
	if _, err := js.UpdateKeyValue(ctx, cfg); err != nil {
		return fmt.Errorf("bucket %s: TTL %s: %w", wire.JobBucket, ttl, err)
	}
	return nil
}
