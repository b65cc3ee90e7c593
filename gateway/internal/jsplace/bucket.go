package jsplace

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// KeyValue opens the bucket cfg names, creating it with cfg when it is
// missing; another gateway creating it at the same moment is no error.
func KeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, cfg.Bucket)
		}
	}
	return kv, err
}

// Bucket is a key-value bucket opened, or created, on first use, so that a
// gateway that starts while NATS is away gets it once NATS is back.
type Bucket struct {
	js  jetstream.JetStream
	cfg jetstream.KeyValueConfig

	mu sync.Mutex
	kv jetstream.KeyValue
}

// NewBucket returns the bucket cfg describes, in js, not opened yet.
func NewBucket(js jetstream.JetStream, cfg jetstream.KeyValueConfig) *Bucket {
	return &Bucket{js: js, cfg: cfg}
}

// Open returns the bucket, opening or creating it the first time.
func (b *Bucket) Open(ctx context.Context) (jetstream.KeyValue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kv != nil {
		return b.kv, nil
	}
	kv, err := KeyValue(ctx, b.js, b.cfg)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", b.cfg.Bucket, err)
	}
	b.kv = kv
	return kv, nil
}

// Conflict reports whether a key-value Create or Update lost to another
// writer: the key exists already, or changed since it was read.
func Conflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
}
