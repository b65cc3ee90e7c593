package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/wire"
)

// Errors of the job records.
var (
	// ErrNotFound is returned for a job id with no record: never
	// submitted, or expired after the bucket's TTL.
	ErrNotFound = errors.New("job not found")
	// ErrExists is returned by Store.Create for an id that has a record.
	ErrExists = errors.New("job exists")
	// ErrUnchanged is returned by an Update change function that has
	// nothing to write; Update then returns the record as it is and no
	// error.
	ErrUnchanged = errors.New("job record unchanged")
	// ErrContention is returned by Update when other writers kept winning.
	ErrContention = errors.New("job record: too many concurrent writers")
)

// maxUpdateTries bounds the compare-and-set loop of Update.
const maxUpdateTries = 64

// Store reads and writes job records in the bucket (wire.JobBucket).
// Every write after the first is a compare-and-set on the revision read,
// so concurrent writers (gateways, workers) never lose each other's
// changes. It is safe for concurrent use.
type Store struct {
	kv jetstream.KeyValue
}

// OpenStore opens the bucket; the gateway creates it (Ensure), so it must
// exist.
func OpenStore(ctx context.Context, js jetstream.JetStream) (*Store, error) {
	kv, err := js.KeyValue(ctx, wire.JobBucket)
	if err != nil {
		return nil, fmt.Errorf("job bucket %s: %w", wire.JobBucket, err)
	}
	return &Store{kv: kv}, nil
}

func jobKey(id string) string { return wire.JobKeyPrefix + id }

// Get returns the record of a job and its revision.
func (s *Store) Get(ctx context.Context, id string) (*Record, uint64, error) {
	if !ValidID(id) {
		return nil, 0, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	e, err := s.kv.Get(ctx, jobKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, 0, err
	}
	var r Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, 0, fmt.Errorf("job %s: record is not JSON: %w", id, err)
	}
	return &r, e.Revision(), nil
}

// Create stores the first record of a job; it fails with ErrExists when
// the id has one.
func (s *Store) Create(ctx context.Context, r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = s.kv.Create(ctx, jobKey(r.ID), b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("%w: %s", ErrExists, r.ID)
	}
	return err
}

// Update reads a record, lets change modify it, and writes it back if
// nobody wrote in between; otherwise it reads again and calls change
// again. change returns ErrUnchanged to write nothing, or another error to
// stop, which Update returns with the record as read. UpdatedAt is set on
// every write.
func (s *Store) Update(ctx context.Context, id string, change func(*Record) error) (*Record, error) {
	for range maxUpdateTries {
		r, rev, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := change(r); errors.Is(err, ErrUnchanged) {
			return r, nil
		} else if err != nil {
			return r, err
		}
		r.UpdatedAt = time.Now().UTC()
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		_, err = s.kv.Update(ctx, jobKey(id), b, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrContention, id)
}
