package jobs

import (
	"context"
	"fmt"

	"github.com/notebridge/notebridge/gateway/wire"
)

// Cancel cancels a job that is queued or running and tells its worker, if
// any, to stop (wire.JobCancelSubject). Cancelling a cancelled job changes
// nothing; a job that succeeded or failed gives ErrFinished.
func (s *Service) Cancel(ctx context.Context, id string) (*Record, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	rec, changed, err := s.store.Cancel(ctx, id)
	if err != nil {
		s.suspect(err)
		return rec, err
	}
	if changed {
		// A worker that has the job listens here; one that picks it up
		// later finds it cancelled in the record.
		if err := s.nc.Publish(wire.JobCancelSubject(id), nil); err != nil {
			s.log.Warn("jobs: telling the worker to stop", "job", id, "err", err)
		}
	}
	return rec, nil
}

// Cancel stores the cancellation of a queued or running job; changed says
// the record was not cancelled before. The caller then publishes to
// wire.JobCancelSubject, so that a worker running the job stops.
func (s *Store) Cancel(ctx context.Context, id string) (rec *Record, changed bool, err error) {
	rec, err = s.Update(ctx, id, func(r *Record) error {
		changed = false
		switch r.Status {
		case Cancelled:
			return ErrUnchanged
		case Succeeded, Failed:
			return fmt.Errorf("%w: job %s %s", ErrFinished, id, r.Status)
		}
		r.Status, changed = Cancelled, true
		return nil
	})
	return rec, changed, err
}
