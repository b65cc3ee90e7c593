package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/wire"
)

// HeaderJobID names the job a webhook is about.
const HeaderJobID = "Notebridge-Job-Id"

// hookMarker is stored under "hook.<id>" once a job's webhook is enqueued.
type hookMarker struct {
	EnqueuedAt time.Time `json:"enqueued_at"`
}

// hookConcurrency bounds the webhook deliveries one gateway makes at once.
const hookConcurrency = 16

// watchFinished watches every job record, from the ones already in the
// bucket (so that a job that ended while no gateway ran is not missed) to
// each new write, and enqueues the webhook of every job that has reached a
// final status with a callback.
func (s *Service) watchFinished(context.Context) error {
	// The watch lives as long as the service, not as long as ctx.
	w, err := s.kv.Watch(s.ctx, wire.JobKeyPrefix+"*", jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("watching job records: %w", err)
	}
	s.stops = append(s.stops, func() { _ = w.Stop() })
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-s.ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil { // the end of the records that were there
					continue
				}
				var r Record
				if json.Unmarshal(e.Value(), &r) != nil || !r.Status.Final() || r.CallbackURL == "" {
					continue
				}
				if err := s.enqueueHook(r.ID); err != nil {
					s.log.Warn("jobs: enqueueing a webhook", "job", r.ID, "err", err)
				}
			}
		}
	}()
	return nil
}

// enqueueHook puts a job's webhook on the hook stream once. Every gateway
// sees the final record and may get here: the stream drops copies
// published within its duplicate window (Nats-Msg-Id), and the marker
// written after publishing keeps later ones (a gateway starting up) out.
// A gateway that dies between the two leaves no marker, so the webhook is
// enqueued again rather than lost.
func (s *Service) enqueueHook(id string) error {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	key := wire.HookKeyPrefix + id
	if _, err := s.kv.Get(ctx, key); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return err
	}
	msg := nats.NewMsg(wire.HookSubject(id))
	if _, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID("hook-"+id)); err != nil {
		return err
	}
	b, _ := json.Marshal(hookMarker{EnqueuedAt: time.Now().UTC()})
	if _, err := s.kv.Create(ctx, key, b); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return err
	}
	return nil
}

// deliverHooks consumes the hook stream: the work-queue consumer hands
// each delivery to one gateway, and to another if that one dies.
func (s *Service) deliverHooks(ctx context.Context) error {
	return s.consume(ctx, wire.HookStream, wire.HookConsumer, hookConcurrency, s.deliverHook)
}

// deliverHook POSTs a job's record to its callback, signed, with retries;
// it acknowledges the delivery when it is done or given up on, and leaves
// it to another gateway when this one stops.
func (s *Service) deliverHook(msg jetstream.Msg) {
	id := wire.HookJobID(msg.Subject())
	rec, _, err := s.store.Get(s.ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		s.log.Warn("webhook not sent: the job has expired", "job", id)
		_ = msg.Ack()
		return
	case err != nil:
		s.log.Warn("webhook: reading the job", "job", id, "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	u, err := s.CheckCallback(rec.CallbackURL)
	if err != nil {
		s.log.Warn("webhook not sent", "job", id, "err", err)
		_ = msg.Ack()
		return
	}
	body, err := rec.Public()
	if err != nil {
		s.log.Error("webhook: encoding the job", "job", id, "err", err)
		_ = msg.Ack()
		return
	}
	attempts, err := s.cfg.Webhook.Send(s.ctx, u.String(), body, http.Header{HeaderJobID: {id}},
		func() { _ = msg.InProgress() })
	switch {
	case s.ctx.Err() != nil:
		return // stopping: another gateway takes it over after the ack wait
	case err != nil:
		s.log.Warn("webhook given up", "job", id, "host", u.Host, "attempts", attempts, "err", err)
	default:
		s.log.Info("webhook delivered", "job", id, "host", u.Host, "status", rec.Status, "attempts", attempts)
	}
	_ = msg.Ack()
}
