package contracttools

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/jobs"
	"github.com/notebridge/notebridge/gateway/wire"
)

// jobPoll is how often a job example's record is read.
const jobPoll = 50 * time.Millisecond

// runJobExample runs an example of a job contract as a job, the way the
// gateway submits one (a queued record, then the message), and checks the
// result once it succeeded. The stream, bucket and consumer must exist: a
// gateway serving the contract creates them. The job must end within one
// attempt's timeout; a job that does not is cancelled.
func runJobExample(ctx context.Context, cfg TestConfig, ct *contracts.Contract, ex contracts.Example, res Result, timeout time.Duration) (out Result) {
	start := time.Now()
	defer func() { out.Duration = time.Since(start) }()
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return fail(res, "JetStream: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := js.Consumer(ctx, wire.JobStream, wire.JobConsumer(ct.Name, ct.Version))
	if err != nil {
		return fail(res, "consumer %s: %v (a gateway serving %s creates it)", wire.JobConsumer(ct.Name, ct.Version), err, ct.ID())
	}
	// A worker keeps a pull request waiting on the consumer while it has
	// room for work; none waiting means nobody serves the contract.
	if info, err := c.Info(ctx); err == nil && info.NumWaiting == 0 {
		res.Outcome = NoWorker
		res.Problems = []string{"no worker pulls from " + info.Name}
		return res
	}
	store, err := jobs.OpenStore(ctx, js)
	if err != nil {
		return fail(res, "%v", err)
	}
	id := "contracts-test-" + nuid.Next()
	now := time.Now().UTC()
	if err := store.Create(ctx, &jobs.Record{ID: id, Contract: ct.ID(), Status: jobs.Queued, CreatedAt: now, UpdatedAt: now, RequestID: id}); err != nil {
		return fail(res, "creating the job: %v", err)
	}
	sub := jobs.Submission{Contract: ct, Body: ex.Request, RequestID: id}
	if err := jobs.Publish(ctx, js, sub, id); err != nil {
		return fail(res, "submitting the job: %v", err)
	}
	for {
		rec, _, err := store.Get(ctx, id)
		switch {
		case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
			stopJob(store, cfg, id)
			return fail(res, "job %s did not end within %s; it was cancelled", id, timeout)
		case err != nil:
			return fail(res, "reading job %s: %v", id, err)
		case rec.Status == jobs.Succeeded:
			return checkReply(res, ct, ex, rec.Result)
		case rec.Status.Final():
			if rec.Error != nil {
				return fail(res, "job %s %s: %s: %s", id, rec.Status, rec.Error.Code, rec.Error.Message)
			}
			return fail(res, "job %s %s", id, rec.Status)
		}
		select {
		case <-ctx.Done():
		case <-time.After(jobPoll):
		}
	}
}

// stopJob cancels a job that took too long, as DELETE /jobs/{id} would.
func stopJob(store *jobs.Store, cfg TestConfig, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, changed, err := store.Cancel(ctx, id); err == nil && changed {
		_ = cfg.Conn.Publish(wire.JobCancelSubject(id), nil)
	}
}
