package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/wire"
)

// Submission is a request for a job that passed the contract's checks.
type Submission struct {
	Contract *contracts.Contract
	// Body is the client's bytes, forwarded unchanged.
	Body        []byte
	RequestID   string
	Traceparent string
	// IdempotencyKey, when not empty, makes a repeated submission return
	// the job of the first.
	IdempotencyKey string
	// CallbackURL, when not empty, receives the record when the job ends;
	// the caller has checked it with CheckCallback.
	CallbackURL string
	// Owner is the id of the API key that submits the job ("" without
	// keys): only it may read or cancel the job, and its idempotency keys
	// are its own.
	Owner string
}

// Submit creates a job: its record, queued, then its message on the job
// stream. With an idempotency key it returns the job the key already
// names, replayed true, when the contract and body are the same as the
// first time, and ErrIdempotencyKeyReused when they are not.
//
// Job mode must be ready (Ready), or become so when checked again. When
// JetStream fails the submission because an object of job mode is
// missing, Submit recreates it and tries once more.
func (s *Service) Submit(ctx context.Context, sub Submission) (rec *Record, replayed bool, err error) {
	if err := s.ensureReady(ctx); err != nil {
		return nil, false, err
	}
	started := time.Now()
	rec, replayed, err = s.submit(ctx, sub)
	if err != nil && !errors.Is(err, ErrIdempotencyKeyReused) && s.repaired(ctx, started) {
		// What failed was the first write, to the bucket: nothing of the
		// job was stored yet. (A failed publish was retried in submit.)
		rec, replayed, err = s.submit(ctx, sub)
	}
	return rec, replayed, err
}

func (s *Service) submit(ctx context.Context, sub Submission) (rec *Record, replayed bool, err error) {
	id := newID()
	if sub.IdempotencyKey != "" {
		if id, replayed, err = s.claimKey(ctx, sub, id); err != nil {
			return nil, false, err
		}
	}
	now := time.Now().UTC()
	rec = &Record{
		ID: id, Contract: sub.Contract.ID(), Status: Queued, CreatedAt: now, UpdatedAt: now,
		RequestID: sub.RequestID, CallbackURL: sub.CallbackURL, Owner: sub.Owner,
	}
	err = s.store.Create(ctx, rec)
	switch {
	case errors.Is(err, ErrExists) && replayed:
		if rec, _, err = s.store.Get(ctx, id); err != nil {
			return nil, false, err
		}
	case err != nil:
		return nil, false, err
	default:
		if err := s.store.index(ctx, rec); err != nil {
			return nil, false, err
		}
	}
	// A replay publishes again while no worker has started the job: the
	// first submitter may have stopped before it published. JetStream
	// drops the copy when the first one made it (Nats-Msg-Id), and a
	// worker skips a copy that comes later (docs/protocol.md).
	if !replayed || (rec.Status == Queued && rec.Attempts == 0) {
		started := time.Now()
		err := s.publish(ctx, sub, id)
		if err != nil && s.repaired(ctx, started) { // the job stream was missing: the record waits for this publish
			err = s.publish(ctx, sub, id)
		}
		if err != nil {
			return nil, false, err
		}
	}
	return rec, replayed, nil
}

// publish puts the job's message on the job stream.
func (s *Service) publish(ctx context.Context, sub Submission, id string) error {
	if err := Publish(ctx, s.js, sub, id); err != nil {
		return fmt.Errorf("job %s: %w", id, err)
	}
	return nil
}

// Publish puts the message of job id on the job stream: the body as
// given, the request headers of docs/protocol.md (no deadline: each
// attempt has its own), Nb-Job-Id, and the id as Nats-Msg-Id so that
// JetStream drops a second publish within its duplicate window. The
// job's record must exist first.
func Publish(ctx context.Context, js jetstream.JetStream, sub Submission, id string) error {
	ct := sub.Contract
	msg := nats.NewMsg(ct.Subject)
	msg.Data = sub.Body
	msg.Header.Set(wire.HeaderRequestID, sub.RequestID)
	msg.Header.Set(wire.HeaderContract, ct.ID())
	msg.Header.Set(wire.HeaderContractDigest, ct.Digest)
	if sub.Traceparent != "" {
		msg.Header.Set(wire.HeaderTraceparent, sub.Traceparent)
	}
	msg.Header.Set(wire.HeaderJobID, id)
	if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(id)); err != nil {
		return fmt.Errorf("publish to %s: %w", ct.Subject, err)
	}
	return nil
}
