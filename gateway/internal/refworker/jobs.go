package refworker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/jobs"
	"github.com/notebridge/notebridge/gateway/wire"
)

// JobOption changes how a job worker behaves.
type JobOption func(*JobWorker)

// WithJobStarted calls f with the id and attempt of every job the worker
// starts, once its record says running.
func WithJobStarted(f func(id string, attempt int)) JobOption {
	return func(w *JobWorker) { w.started = f }
}

// WithJobCancelled calls f with the id of every running job the gateway
// told the worker to stop.
func WithJobCancelled(f func(id string)) JobOption {
	return func(w *JobWorker) { w.cancelled = f }
}

// WithConcurrency bounds how many jobs the worker runs at once (default 4);
// it pulls no more messages than that.
func WithConcurrency(n int) JobOption { return func(w *JobWorker) { w.concurrency = n } }

// JobWorker serves one job contract the way docs/protocol.md says a worker
// must: it pulls from the contract's durable consumer, marks the job
// running, heartbeats, reports progress, stores the result or the error,
// and only then acknowledges.
type JobWorker struct {
	nc          *nats.Conn
	ct          *contracts.Contract
	store       *jobs.Store
	cc          jetstream.ConsumeContext
	svc         micro.Service // announces the contract to discovery ($SRV.INFO)
	concurrency int
	started     func(id string, attempt int)
	cancelled   func(id string)
	wg          sync.WaitGroup
	mu          sync.Mutex // guards stopped, and wg.Add against Stop's wg.Wait
	stopped     bool
}

// stepsRequest is the request of the job test contract: Steps steps of
// StepMS each, a progress report after each, and then the text back.
// FailOn and DieOn list attempts (1, 2, ...) that fail with an error after
// the steps, or die after the first step: they stop heartbeating and never
// acknowledge, as a killed process would.
type stepsRequest struct {
	Text   string `json:"text"`
	Steps  int    `json:"steps"`
	StepMS int    `json:"step_ms"`
	FailOn []int  `json:"fail_on"`
	DieOn  []int  `json:"die_on"`
}

// stepsResult is the result of the job test contract.
type stepsResult struct {
	Text    string `json:"text"`
	Attempt int    `json:"attempt"`
}

// StartJobs serves a job contract until Stop. It creates-or-updates the
// contract's consumer with jobs.ConsumerConfig, which the gateway has
// created already with the same config; the stream and the bucket must
// exist (a gateway creates them).
func StartJobs(nc *nats.Conn, ct *contracts.Contract, opts ...JobOption) (*JobWorker, error) {
	if ct.Mode != contracts.ModeJob {
		return nil, fmt.Errorf("refworker: %s is a %s contract, not a job contract", ct.ID(), ct.Mode)
	}
	w := &JobWorker{nc: nc, ct: ct, concurrency: 4, started: func(string, int) {}, cancelled: func(string) {}}
	for _, opt := range opts {
		opt(w)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if w.store, err = jobs.OpenStore(ctx, js); err != nil {
		return nil, err
	}
	c, err := js.CreateOrUpdateConsumer(ctx, wire.JobStream, jobs.ConsumerConfig(ct))
	if err != nil {
		return nil, err
	}
	// A job contract has no endpoint: the service only says, in its metadata,
	// which contract this process pulls, for the gateway's catalog.
	w.svc, err = micro.AddService(nc, micro.Config{
		Name:        "notebridge-refworker-jobs",
		Version:     "1.0.0",
		Description: "Go reference worker for a job test contract",
		Metadata:    map[string]string{wire.JobMetadataPrefix + ct.ID(): ct.Digest},
	})
	if err != nil {
		return nil, err
	}
	sem := make(chan struct{}, w.concurrency)
	w.cc, err = c.Consume(func(msg jetstream.Msg) {
		sem <- struct{}{}
		w.mu.Lock()
		if w.stopped { // left unacknowledged: JetStream delivers it again
			w.mu.Unlock()
			<-sem
			return
		}
		w.wg.Add(1)
		w.mu.Unlock()
		go func() {
			defer func() { <-sem; w.wg.Done() }()
			w.run(msg)
		}()
	}, jetstream.PullMaxMessages(w.concurrency))
	if err == nil {
		// Once the server has the service's subscriptions, discovery sees it.
		err = nc.Flush()
	}
	if err != nil {
		_ = w.svc.Stop()
		return nil, err
	}
	return w, nil
}

// Stop stops pulling jobs and waits for the running ones.
func (w *JobWorker) Stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	w.cc.Stop()
	_ = w.svc.Stop()
	w.wg.Wait()
}

// errSkip says a delivery is not for running: the job is final, or the
// message is a copy of one a worker has started already.
var errSkip = errors.New("not to be run")

// run is one delivery of a job message.
func (w *JobWorker) run(msg jetstream.Msg) {
	ctx := context.Background()
	id := msg.Headers().Get(wire.HeaderJobID)
	md, err := msg.Metadata()
	if err != nil || id == "" {
		_ = msg.Term() // not a job message: never redeliver it
		return
	}
	attempt := int(md.NumDelivered)

	// Listen for a cancel before the record says running: a DELETE that
	// sees "running" must find the worker listening.
	jobCtx, cancel := context.WithTimeout(ctx, w.ct.Timeout)
	defer cancel()
	var cancelled atomic.Bool
	sub, err := w.nc.Subscribe(wire.JobCancelSubject(id), func(*nats.Msg) {
		if !cancelled.Swap(true) {
			w.cancelled(id)
			cancel()
		}
	})
	if err != nil {
		return
	}
	defer sub.Unsubscribe()              //nolint:errcheck // best effort
	if err := w.nc.Flush(); err != nil { // the server has the subscription
		return
	}
	err = w.store.Begin(ctx, id, attempt)
	switch {
	case errors.Is(err, jobs.ErrNotToRun), errors.Is(err, jobs.ErrNotFound):
		_ = msg.Ack()
		return
	case err != nil: // NATS trouble: JetStream delivers it again
		return
	}
	w.started(id, attempt)

	stopBeat := jobs.Heartbeat(msg, w.ct.AckWait)
	result, jobErr, died := w.handle(jobCtx, msg, id, attempt)
	stopBeat()
	if died {
		return // no ack, no heartbeat: JetStream delivers it again after the ack wait
	}
	if cancelled.Load() {
		_ = msg.Ack() // the gateway has stored the cancellation
		return
	}
	last := attempt >= w.ct.MaxAttempts
	err = w.store.End(ctx, id, result, jobErr, last)
	switch {
	case err != nil && !errors.Is(err, jobs.ErrNotToRun):
		return // the record is not stored: let JetStream deliver it again
	case jobErr != nil && !last && err == nil:
		_ = msg.Nak()
	default:
		_ = msg.Ack()
	}
}

// handle runs the job test contract's steps; died says the attempt is to
// vanish without a trace.
func (w *JobWorker) handle(ctx context.Context, msg jetstream.Msg, id string, attempt int) (json.RawMessage, *jobs.Error, bool) {
	if d := msg.Headers().Get(wire.HeaderContractDigest); d != "" && d != w.ct.Digest {
		return nil, &jobs.Error{Code: wire.CodeDrift, Message: fmt.Sprintf("%s: gateway has %s, worker has %s", w.ct.ID(), d, w.ct.Digest)}, false
	}
	req, err := contracts.DecodeJSON(msg.Data())
	if err != nil {
		return nil, &jobs.Error{Code: wire.CodeInvalidRequest, Message: err.Error()}, false
	}
	if vs := w.ct.ValidateRequest(req); len(vs) > 0 {
		return nil, &jobs.Error{Code: wire.CodeInvalidRequest, Message: vs[0].Message}, false
	}
	var in stepsRequest
	if err := json.Unmarshal(msg.Data(), &in); err != nil {
		return nil, &jobs.Error{Code: wire.CodeInvalidRequest, Message: err.Error()}, false
	}
	for i := 1; i <= in.Steps; i++ {
		select {
		case <-ctx.Done():
			return nil, &jobs.Error{Code: wire.CodeDeadlineExceeded, Message: "the attempt ran out of time"}, false
		case <-time.After(time.Duration(in.StepMS) * time.Millisecond):
		}
		if i == 1 && slices.Contains(in.DieOn, attempt) {
			return nil, nil, true
		}
		_, err := w.store.Update(ctx, id, func(r *jobs.Record) error {
			if r.Status != jobs.Running {
				return jobs.ErrUnchanged // cancelled: the cancel message stops us
			}
			r.Progress = &jobs.Progress{Fraction: float64(i) / float64(in.Steps), Message: fmt.Sprintf("step %d of %d", i, in.Steps)}
			return nil
		})
		if err != nil {
			return nil, &jobs.Error{Code: wire.CodeInternal, Message: "storing progress: " + err.Error()}, false
		}
	}
	if slices.Contains(in.DieOn, attempt) { // no steps to die after
		return nil, nil, true
	}
	if slices.Contains(in.FailOn, attempt) {
		return nil, &jobs.Error{Code: "job_failed", Message: fmt.Sprintf("asked to fail on attempt %d", attempt)}, false
	}
	out, _ := json.Marshal(stepsResult{Text: in.Text, Attempt: attempt})
	v, _ := contracts.DecodeJSON(out)
	if vs := w.ct.ValidateResponse(v); len(vs) > 0 {
		return nil, &jobs.Error{Code: wire.CodeInvalidReply, Message: vs[0].Message}, false
	}
	return out, nil, false
}
