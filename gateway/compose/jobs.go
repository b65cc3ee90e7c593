package compose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/jobs"
	"github.com/notebridge/notebridge/gateway/wire"
)

// jobConcurrency bounds the composed jobs one gateway runs at once, per
// contract.
const jobConcurrency = 8

// CodeStepFailed is the error code of a composed job whose step did not get
// the branches it requires.
const CodeStepFailed = "step_failed"

// JobRunner runs the jobs of composed job contracts, in the gateway, the
// way docs/protocol.md says a job worker must: it pulls from the
// contract's consumer, marks the job running, heartbeats, stores the
// result or the error, and only then acknowledges. Every gateway runs one;
// JetStream gives each job to one of them at a time.
type JobRunner struct {
	reg  *contracts.Registry
	nc   *nats.Conn
	js   jetstream.JetStream
	call Caller
	cps  *JobCheckpoints
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// reloadCheck is how often the runner looks for reloaded contracts.
const reloadCheck = time.Second

// StartJobs runs the jobs of every composed job contract of reg until
// Stop, following reloads of reg (SIGHUP): a contract added is served, one
// removed is not any more, one changed is served as it is now. A registry
// without composed job contracts is no error. It keeps trying to reach the
// job stream, which the jobs service creates, in the background.
func StartJobs(nc *nats.Conn, js jetstream.JetStream, reg *contracts.Registry, call Caller, ttl time.Duration, log *slog.Logger) *JobRunner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &JobRunner{reg: reg, nc: nc, js: js, call: call, cps: NewJobCheckpoints(js, ttl), log: log, ctx: ctx, cancel: cancel}
	r.wg.Add(1)
	go r.follow()
	return r
}

// Stop stops pulling jobs and waits for the running ones to end; a job
// stopped half way is delivered again, to this or another gateway, and
// resumes from its checkpoints.
func (r *JobRunner) Stop() {
	r.cancel()
	r.wg.Wait()
}

// puller pulls one composed job contract's jobs until cancelled.
type puller struct {
	ct     *contracts.Contract
	cancel context.CancelFunc
	done   chan struct{}
}

func (p *puller) stop() {
	p.cancel()
	<-p.done
}

// follow keeps one puller per composed job contract of the registry's
// current set, checking for a reload every reloadCheck.
func (r *JobRunner) follow() {
	defer r.wg.Done()
	pullers := map[string]*puller{}
	defer func() {
		for _, p := range pullers {
			p.stop()
		}
	}()
	generation := ^uint64(0)
	tick := time.NewTicker(reloadCheck)
	defer tick.Stop()
	for {
		if g := r.reg.Generation(); g != generation {
			generation = g
			r.update(r.reg.All(), pullers)
		}
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// update starts a puller for each composed job contract of cts that has
// none or whose definition changed, and stops those of contracts gone.
// A job a stopped puller was running is delivered again.
func (r *JobRunner) update(cts []*contracts.Contract, pullers map[string]*puller) {
	current := map[string]*contracts.Contract{}
	for _, ct := range cts {
		if ct.Composed() && ct.Mode == contracts.ModeJob {
			current[ct.ID()] = ct
		}
	}
	for id, p := range pullers {
		if current[id] != p.ct {
			p.stop()
			delete(pullers, id)
		}
	}
	for id, ct := range current {
		if _, ok := pullers[id]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(r.ctx)
		p := &puller{ct: ct, cancel: cancel, done: make(chan struct{})}
		pullers[id] = p
		go func() {
			defer close(p.done)
			r.serve(ctx, ct)
		}()
	}
}

// serve pulls ct's jobs until ctx ends, setting up again after a failure
// (the stream not there yet, or recreated).
func (r *JobRunner) serve(ctx context.Context, ct *contracts.Contract) {
	for ctx.Err() == nil {
		err := r.consume(ctx, ct)
		if ctx.Err() != nil {
			return
		}
		r.log.Debug("composed jobs: setting up again", "contract", ct.ID(), "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// consume runs ct's jobs until ctx ends or the consumer goes away.
func (r *JobRunner) consume(ctx context.Context, ct *contracts.Contract) error {
	setup, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	store, err := jobs.OpenStore(setup, r.js)
	if err != nil {
		return err
	}
	c, err := r.js.CreateOrUpdateConsumer(setup, wire.JobStream, jobs.ConsumerConfig(ct))
	if err != nil {
		return err
	}
	lost := make(chan error, 1)
	sem := make(chan struct{}, jobConcurrency)
	var running sync.WaitGroup
	cc, err := c.Consume(func(msg jetstream.Msg) {
		sem <- struct{}{}
		running.Add(1)
		go func() {
			defer func() { <-sem; running.Done() }()
			r.run(ctx, ct, store, msg)
		}()
	}, jetstream.PullMaxMessages(jobConcurrency), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
			select {
			case lost <- err:
			default:
			}
		}
	}))
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case err = <-lost:
	}
	cc.Stop()
	running.Wait()
	return err
}

// run is one delivery of a composed job; ctx ends when this gateway stops
// serving ct.
func (r *JobRunner) run(ctx context.Context, ct *contracts.Contract, store *jobs.Store, msg jetstream.Msg) {
	id := msg.Headers().Get(wire.HeaderJobID)
	md, err := msg.Metadata()
	if err != nil || !jobs.ValidID(id) {
		_ = msg.Term() // not a job message: never deliver it again
		return
	}
	attempt := int(md.NumDelivered)
	// The steps as the contract has them now: a reload may have changed
	// them since this puller started.
	if cur, err := r.reg.Lookup(ct.Name, ct.Version); err == nil && cur.Composed() && cur.Mode == contracts.ModeJob {
		ct = cur
	}
	// The job's own context: its timeout, a cancel, or the gateway
	// stopping (then the job is left to be delivered again).
	jobCtx, cancel := context.WithTimeout(ctx, ct.Timeout)
	defer cancel()
	var cancelled atomic.Bool
	sub, err := r.nc.Subscribe(wire.JobCancelSubject(id), func(*nats.Msg) {
		cancelled.Store(true)
		cancel()
	})
	if err != nil {
		return
	}
	defer sub.Unsubscribe() //nolint:errcheck // best effort
	if err := r.nc.Flush(); err != nil {
		return
	}
	err = store.Begin(jobCtx, id, attempt)
	switch {
	case errors.Is(err, jobs.ErrNotToRun), errors.Is(err, jobs.ErrNotFound):
		_ = msg.Ack()
		return
	case err != nil:
		return // NATS trouble: JetStream delivers it again
	}

	stopBeat := jobs.Heartbeat(msg, ct.AckWait)
	reply, runErr := Run(jobCtx, ct, msg.Data(), r.call, r.cps.For(id))
	stopBeat()
	switch {
	case ctx.Err() != nil:
		return // this gateway stopped serving ct: another delivery resumes it
	case cancelled.Load():
		_ = msg.Ack() // the gateway has stored the cancellation
		return
	}
	var result json.RawMessage
	var jobErr *jobs.Error
	if runErr == nil {
		result, runErr = json.Marshal(reply)
	}
	if runErr != nil {
		jobErr = jobError(runErr, jobCtx)
		r.log.Warn("composed job attempt failed", "job", id, "contract", ct.ID(), "attempt", attempt, "err", runErr)
	}
	last := attempt >= ct.MaxAttempts
	// The outcome is written with a fresh context: the job's may have
	// ended at its timeout, and the outcome must still be stored.
	writeCtx, done := context.WithTimeout(r.ctx, 15*time.Second)
	defer done()
	err = store.End(writeCtx, id, result, jobErr, last)
	switch {
	case err != nil && !errors.Is(err, jobs.ErrNotToRun):
		return // not stored: JetStream delivers it again
	case jobErr != nil && !last && err == nil:
		_ = msg.Nak() // the failed branches are tried again; the finished ones are checkpointed
	default:
		_ = msg.Ack()
	}
}

// jobError is a failed composition as a job record's error.
func jobError(err error, jobCtx context.Context) *jobs.Error {
	var se *StepError
	var re *ResultError
	switch {
	case errors.As(err, &se):
		return &jobs.Error{Code: CodeStepFailed, Message: se.Error()}
	case errors.As(err, &re):
		return &jobs.Error{Code: wire.CodeInvalidReply, Message: re.Error()}
	case jobCtx.Err() != nil:
		return &jobs.Error{Code: wire.CodeDeadlineExceeded, Message: "the attempt ran out of time"}
	default:
		return &jobs.Error{Code: wire.CodeInternal, Message: fmt.Sprintf("the composition failed: %v", err)}
	}
}
