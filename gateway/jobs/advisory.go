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

// maxDeliveriesAdvisory is the part of JetStream's
// io.nats.jetstream.advisory.v1.max_deliver advisory the gateway reads.
type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries int    `json:"deliveries"`
}

// advisoryRetry is how long a gateway waits before it tries an advisory
// again after NATS failed it.
const advisoryRetry = time.Second

// watchAdvisories consumes the advisories JetStream sends when a job
// message reached its consumer's max deliveries. The advisory stream keeps
// them until a gateway acknowledges one, so none is lost while no gateway
// runs, and the work-queue consumer hands each to one gateway.
func (s *Service) watchAdvisories(ctx context.Context) error {
	return s.consume(ctx, wire.JobAdvisoryStream, wire.JobAdvisoryConsumer, 4, func(msg jetstream.Msg) {
		if err := s.giveUp(msg.Data()); err != nil {
			s.log.Warn("jobs: max-deliveries advisory", "err", err)
			_ = msg.NakWithDelay(advisoryRetry)
			return
		}
		_ = msg.Ack()
	})
}

// giveUp marks the job of an advisory failed, with the last error an
// attempt stored or CodeWorkerLost, and removes its message from the job
// stream so that it is not left there forever.
func (s *Service) giveUp(data []byte) error {
	var adv maxDeliveriesAdvisory
	if err := json.Unmarshal(data, &adv); err != nil || adv.Stream != wire.JobStream {
		s.log.Warn("jobs: ignoring an advisory that is not about the job stream", "advisory", string(data))
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	msg, err := s.jobStream.GetMsg(ctx, adv.StreamSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil // another gateway was here first, or the message expired
	}
	if err != nil {
		return fmt.Errorf("job message %d: %w", adv.StreamSeq, err)
	}
	id := msg.Header.Get(wire.HeaderJobID)
	rec, err := s.store.Update(ctx, id, func(r *Record) error {
		if r.Status.Final() {
			return ErrUnchanged
		}
		r.Status = Failed
		r.Attempts = max(r.Attempts, adv.Deliveries)
		if r.Error == nil {
			r.Error = &Error{Code: CodeWorkerLost, Message: fmt.Sprintf(
				"no worker finished the job in %d attempt(s): the last one stopped without a word (it died, or stopped sending heartbeats)", adv.Deliveries)}
		}
		return nil
	})
	switch {
	case errors.Is(err, ErrNotFound): // expired; the message goes all the same
	case err != nil:
		return fmt.Errorf("job %s: %w", id, err)
	default:
		s.log.Info("job failed after its last attempt", "job", id, "contract", rec.Contract, "attempts", rec.Attempts, "status", rec.Status)
	}
	if err := s.jobStream.DeleteMsg(ctx, adv.StreamSeq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("job %s: removing message %d: %w", id, adv.StreamSeq, err)
	}
	return nil
}
