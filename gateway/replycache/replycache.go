// Package replycache keeps the replies of deterministic contracts (a
// manifest's "cache") in a JetStream key-value bucket that every gateway
// replica shares and that survives restarts.
//
// An entry is keyed by the contract version, its digest and the SHA-256 of
// the request's canonical JSON (jsoneq.Canonical): key order, whitespace
// and number spelling do not matter, and a contract whose schemas change
// (a new digest) never meets the entries of the old ones. An entry is
// served while it is younger than the contract's ttl_seconds, by the
// server's timestamp, so replicas agree on its age.
package replycache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/internal/jsplace"
	"github.com/notebridge/notebridge/gateway/jsoneq"
	"github.com/notebridge/notebridge/gateway/wire"
)

// MaxTTL is the bucket's age limit, the longest ttl_seconds a manifest may
// declare: older entries are gone whatever their contract says.
const MaxTTL = 24 * time.Hour

// DefaultMaxBytes bounds the bucket when the gateway's flag does not say.
const DefaultMaxBytes = 256 << 20

// DefaultLocalBytes bounds the entries each gateway keeps in memory when
// its flag does not say.
const DefaultLocalBytes = 8 << 20

// ErrNotCached is returned by Get when no fresh entry answers the request.
var ErrNotCached = errors.New("not cached")

// Cache reads and writes cached replies. Its bucket is opened, or created,
// on first use, so a gateway that starts while NATS is away caches once it
// is back.
type Cache struct {
	entries *jsplace.Bucket
	local   *local // nil: every lookup asks JetStream
}

// New returns a cache in the bucket wire.CacheBucket of js, which holds at
// most maxBytes (0: DefaultMaxBytes). When it is full, new replies are not
// stored until old ones age out (JetStream key-value buckets discard new
// writes, not old entries). The most recently used entries are kept in
// memory too, within localBytes (0: none), so that their hits need no
// round trip to JetStream.
func New(js jetstream.JetStream, maxBytes int64, localBytes int) *Cache {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	c := &Cache{entries: jsplace.NewBucket(js, jetstream.KeyValueConfig{
		Bucket: wire.CacheBucket, History: 1, TTL: MaxTTL, MaxBytes: maxBytes, Storage: jetstream.FileStorage,
		Description: "notebridge replies of deterministic contracts, by contract digest and canonical request",
	})}
	if localBytes > 0 {
		c.local = newLocal(localBytes)
	}
	return c
}

// Key is the entry key of a request body to contract ct.
func Key(ct *contracts.Contract, body []byte) string {
	sum := sha256.Sum256(jsoneq.Canonical(body))
	digest := strings.TrimPrefix(ct.Digest, "sha256:")
	if len(digest) > 16 {
		digest = digest[:16]
	}
	return fmt.Sprintf("%s.v%d.%s.%s", ct.Name, ct.Version, digest, hex.EncodeToString(sum[:]))
}

// Get returns the cached reply under key and its age, or ErrNotCached when
// there is none younger than ttl.
func (c *Cache) Get(ctx context.Context, key string, ttl time.Duration) ([]byte, time.Duration, error) {
	if reply, age, ok := c.local.get(key, ttl); ok {
		return reply, age, nil
	}
	kv, err := c.entries.Open(ctx)
	if err != nil {
		return nil, 0, err
	}
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, ErrNotCached
	}
	if err != nil {
		return nil, 0, err
	}
	age := max(time.Since(e.Created()), 0)
	if age >= ttl {
		return nil, 0, ErrNotCached
	}
	c.local.put(key, e.Value(), e.Created())
	return e.Value(), age, nil
}

// Put stores reply under key.
func (c *Cache) Put(ctx context.Context, key string, reply []byte) error {
	kv, err := c.entries.Open(ctx)
	if err != nil {
		return err
	}
	stored := time.Now()
	if _, err = kv.Put(ctx, key, reply); err != nil {
		return err
	}
	c.local.put(key, bytes.Clone(reply), stored) // the caller may reuse reply's memory
	return nil
}
