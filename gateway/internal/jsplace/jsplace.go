// Package jsplace is how the gateway makes and keeps its JetStream objects,
// in one place: the replicas of what it creates (the job streams and every
// bucket: a JetStream context whose create calls ask for n replicas when
// the config names none; objects that exist keep theirs, an operator's
// placement wins), buckets opened or created on first use, and telling a
// compare-and-set that lost to another writer.
package jsplace

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

// Replicated returns js whose CreateStream, CreateOrUpdateStream,
// CreateKeyValue and CreateOrUpdateKeyValue ask for n replicas where the
// config asks for none; n <= 1 returns js unchanged.
func Replicated(js jetstream.JetStream, n int) jetstream.JetStream {
	if n <= 1 {
		return js
	}
	return replicated{JetStream: js, n: n}
}

type replicated struct {
	jetstream.JetStream
	n int
}

func (r replicated) CreateStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = r.n
	}
	return r.JetStream.CreateStream(ctx, cfg)
}

func (r replicated) CreateOrUpdateStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = r.n
	}
	return r.JetStream.CreateOrUpdateStream(ctx, cfg)
}

func (r replicated) CreateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = r.n
	}
	return r.JetStream.CreateKeyValue(ctx, cfg)
}

func (r replicated) CreateOrUpdateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = r.n
	}
	return r.JetStream.CreateOrUpdateKeyValue(ctx, cfg)
}
