package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/internal/jsplace"
	"github.com/notebridge/notebridge/gateway/wire"
)

// retryEvery is how often the store tries again to reach its bucket.
const retryEvery = time.Second

// Store is the gateway's view of the keys: every key of the bucket, kept
// current by a watch, so that checking a request's key needs no round trip.
type Store struct {
	mu    sync.RWMutex
	byID  map[string]*Key
	ready bool
}

// Watch returns a store that reads the bucket (creating it if missing),
// then follows every change until ctx ends; it keeps trying while NATS or
// JetStream is unreachable. Until the first read, Authenticate returns
// ErrNotReady.
func Watch(ctx context.Context, js jetstream.JetStream, log *slog.Logger) *Store {
	s := &Store{byID: map[string]*Key{}}
	go s.follow(ctx, js, log)
	return s
}

func (s *Store) follow(ctx context.Context, js jetstream.JetStream, log *slog.Logger) {
	for ctx.Err() == nil {
		if err := s.watchOnce(ctx, js); err != nil && ctx.Err() == nil {
			log.Warn("API keys: cannot watch the key bucket; retrying", "bucket", wire.KeyBucket, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(retryEvery):
			}
		}
	}
}

// watchOnce reads the bucket and applies its changes until the watch ends.
func (s *Store) watchOnce(ctx context.Context, js jetstream.JetStream) error {
	kv, err := Bucket(ctx, js)
	if err != nil {
		return err
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	loaded := map[string]*Key{}
	initial := true
	for entry := range w.Updates() {
		if entry == nil { // every key present at the start has been read
			s.mu.Lock()
			s.byID, s.ready, initial = loaded, true, false
			s.mu.Unlock()
			continue
		}
		id := strings.TrimPrefix(entry.Key(), wire.KeyPrefix)
		var k *Key
		if entry.Operation() == jetstream.KeyValuePut {
			k = new(Key)
			if json.Unmarshal(entry.Value(), k) != nil || k.ID != id {
				k = nil // not a key this version can read: it admits nobody
			}
		}
		if initial {
			set(loaded, id, k)
			continue
		}
		s.mu.Lock()
		set(s.byID, id, k)
		s.mu.Unlock()
	}
	return errors.New("the watch of the key bucket ended")
}

func set(m map[string]*Key, id string, k *Key) {
	if k == nil {
		delete(m, id)
		return
	}
	m[id] = k
}

// Authenticate returns the key token is: ErrUnknown for a token that is
// malformed or no key's, ErrNotReady before the bucket is read.
func (s *Store) Authenticate(token string) (*Key, error) {
	id, wellFormed := parseToken(token)
	s.mu.RLock()
	ready, k := s.ready, s.byID[id]
	s.mu.RUnlock()
	switch {
	case !ready:
		return nil, ErrNotReady
	case !wellFormed || k == nil || !k.matches(token):
		return nil, ErrUnknown
	}
	return k, nil
}

// Bucket opens the key bucket, creating it if it is missing.
func Bucket(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	return jsplace.KeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket: wire.KeyBucket, History: 1, Storage: jetstream.FileStorage,
		Description: "notebridge API keys: ids, names, grants and secret hashes",
	})
}

// Option changes a key being created.
type Option func(*Key) error

// WithRate limits the key to rate calls per second on average, and burst
// at once (0: rate rounded up); see Limiter.
func WithRate(rate float64, burst int) Option {
	return func(k *Key) error {
		if rate < 0 || math.IsNaN(rate) || math.IsInf(rate, 0) || burst < 0 || (rate == 0 && burst > 0) {
			return fmt.Errorf("%w: rate %v and burst %d: want a rate >= 0 (0: none) and a burst >= 0", ErrInvalid, rate, burst)
		}
		k.Rate, k.Burst = rate, burst
		return nil
	}
}

// Create issues a key named name, allowed to call grants, and returns it
// with its token: the only time the token is seen.
func Create(ctx context.Context, kv jetstream.KeyValue, name string, grants []string, opts ...Option) (*Key, string, error) {
	all, err := List(ctx, kv)
	if err != nil {
		return nil, "", err
	}
	if slices.ContainsFunc(all, func(k *Key) bool { return k.Name == name }) {
		return nil, "", fmt.Errorf("%w: a key named %q exists; revoke it first or pick another name", ErrInvalid, name)
	}
	k, token, err := newKey(name, grants, time.Now())
	if err != nil {
		return nil, "", err
	}
	for _, opt := range opts {
		if err := opt(k); err != nil {
			return nil, "", err
		}
	}
	value, err := json.Marshal(k)
	if err != nil {
		return nil, "", err
	}
	if _, err := kv.Create(ctx, wire.KeyPrefix+k.ID, value); err != nil {
		return nil, "", fmt.Errorf("storing key %s: %w", k.ID, err)
	}
	return k, token, nil
}

// List returns every key, by name.
func List(ctx context.Context, kv jetstream.KeyValue) ([]*Key, error) {
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Key
	for name := range lister.Keys() {
		entry, err := kv.Get(ctx, name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // revoked meanwhile
		}
		if err != nil {
			return nil, err
		}
		k := new(Key)
		if err := json.Unmarshal(entry.Value(), k); err != nil {
			return nil, fmt.Errorf("key %s: %w", name, err)
		}
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b *Key) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Revoke deletes the key whose id or name is which; every gateway stops
// admitting it as soon as its watch sees the deletion.
func Revoke(ctx context.Context, kv jetstream.KeyValue, which string) (*Key, error) {
	all, err := List(ctx, kv)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(all, func(k *Key) bool { return k.ID == which || k.Name == which })
	if i < 0 {
		return nil, fmt.Errorf("%w: no key has the id or name %q", ErrNotFound, which)
	}
	if err := kv.Purge(ctx, wire.KeyPrefix+all[i].ID); err != nil {
		return nil, err
	}
	return all[i], nil
}
