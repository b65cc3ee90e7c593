package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/wire"
)

// ErrNotToRun is returned by Begin for a delivery that is not to be run,
// and by End when the job became final meanwhile (it was cancelled).
var ErrNotToRun = errors.New("job delivery not to be run")

// Begin marks job id running for its delivery number attempt, the way
// docs/protocol.md says a worker starts a job. It returns ErrNotToRun when
// the job is final, or when the delivery is no further than the record: a
// copy of the message, published again by an idempotent replay after the
// duplicate window.
func (s *Store) Begin(ctx context.Context, id string, attempt int) error {
	_, err := s.Update(ctx, id, func(r *Record) error {
		if r.Status.Final() || attempt <= r.Attempts {
			return ErrNotToRun
		}
		r.Status, r.Attempts = Running, attempt
		return nil
	})
	return err
}

// End stores how a delivery ended: succeeded with result when jobErr is
// nil; otherwise failed on the last delivery, or queued again for the next
// one. It returns ErrNotToRun, storing nothing, when the job is final
// already.
func (s *Store) End(ctx context.Context, id string, result json.RawMessage, jobErr *Error, last bool) error {
	_, err := s.Update(ctx, id, func(r *Record) error {
		if r.Status.Final() {
			return ErrNotToRun
		}
		switch {
		case jobErr == nil:
			r.Status, r.Result, r.Error = Succeeded, result, nil
		case last:
			r.Status, r.Error = Failed, jobErr
		default:
			r.Status, r.Error = Queued, jobErr
		}
		return nil
	})
	return err
}

// Heartbeat tells JetStream that msg's job is alive three times per ack
// wait (wire.HeartbeatInterval) until the returned function is called.
func Heartbeat(msg jetstream.Msg, ackWait time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(wire.HeartbeatInterval(ackWait))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() { close(done) }
}
