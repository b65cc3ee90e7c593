package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/wire"
)

// ErrNotReady is wrapped by the errors of Ready, and of job operations
// made while job mode is not set up: NATS is not reachable yet, or a
// JetStream object is missing or cannot be created.
var ErrNotReady = errors.New("job mode is not ready")

const (
	// checkInterval is how often a ready Service checks that its JetStream
	// objects are still there.
	checkInterval = 5 * time.Second
	// firstRetry is the wait after a failed setup; it doubles after each
	// failure, up to checkInterval.
	firstRetry = 250 * time.Millisecond
	// checkTimeout bounds the NATS work of one check.
	checkTimeout = 10 * time.Second
	// repairTries and repairWait bound the checks a job operation that
	// JetStream failed makes before it gives up.
	repairTries = 3
	repairWait  = 100 * time.Millisecond
)

// keeper is the part of a Service that sets job mode up and keeps it so.
// One check runs at a time (sem): the keeper's own, every checkInterval
// or after a reconnection, or one a job operation asks for when JetStream
// failed it.
type keeper struct {
	sem        chan struct{}      // held while a check runs, and for good by Stop
	poke       chan struct{}      // asks the keeper for a check soon
	readyOnce  chan struct{}      // closed when job mode is first ready
	done       chan struct{}      // closed when the keeper's goroutine ends
	opened     atomic.Bool        // store, kv and jobStream are set
	advisories *nats.Subscription // of deletedAdvisories, or nil

	state      sync.Mutex
	notReady   error     // nil when ready
	running    bool      // the background work runs on objects set up (sem guards it)
	lastCheck  time.Time // when the last check began (sem guards it)
	fixedAt    time.Time // when a check last set the objects up
	firstReady sync.Once
}

func (s *Service) startKeeper() {
	s.sem = make(chan struct{}, 1)
	s.poke = make(chan struct{}, 1)
	s.readyOnce = make(chan struct{})
	s.done = make(chan struct{})
	s.notReady = fmt.Errorf("%w: waiting for NATS", ErrNotReady)
	events := s.nc.StatusChanged(nats.CONNECTED, nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	// JetStream announces deletions: a check then follows at once rather
	// than at the next interval. Where the account may not read these
	// subjects, the interval remains.
	if sub, err := s.nc.Subscribe(deletedAdvisories, s.deleted); err == nil {
		s.advisories = sub
	}
	go s.keep(events)
}

// deletedAdvisories are the subjects of JetStream's advisories about a
// deleted stream ($JS.EVENT.ADVISORY.STREAM.DELETED.<stream>) or consumer
// ($JS.EVENT.ADVISORY.CONSUMER.DELETED.<stream>.<consumer>).
const deletedAdvisories = "$JS.EVENT.ADVISORY.*.DELETED.>"

// deleted pokes the keeper when an advisory is about a stream of job mode.
func (s *Service) deleted(msg *nats.Msg) {
	tokens := strings.Split(msg.Subject, ".")
	if len(tokens) < 6 {
		return
	}
	switch tokens[5] {
	case wire.JobStream, wire.JobAdvisoryStream, wire.HookStream, "KV_" + wire.JobBucket:
		select {
		case s.poke <- struct{}{}:
		default:
		}
	}
}

// stopKeeper waits for the keeper's goroutine and any check in progress to
// end, and keeps any other check from starting.
func (s *Service) stopKeeper() {
	if s.advisories != nil {
		_ = s.advisories.Unsubscribe()
	}
	<-s.done
	s.sem <- struct{}{}
}

// keep checks at once, then after every checkInterval, after a failed
// check with backoff, when NATS is back, and when poked. While NATS is
// down it waits for it, checking at the interval only in case a status
// change went unreported.
func (s *Service) keep(events chan nats.Status) {
	defer close(s.done)
	defer s.nc.RemoveStatusListener(events)
	retry := firstRetry
	for {
		var wait <-chan time.Time
		err := s.checkNow(s.ctx)
		switch {
		case errors.Is(err, errDisconnected):
			wait = time.After(checkInterval)
		case err != nil:
			wait = time.After(retry)
			retry = min(2*retry, checkInterval)
		default:
			wait = time.After(checkInterval)
			retry = firstRetry
		}
		select {
		case <-s.ctx.Done():
			return
		case st := <-events:
			if st == nats.CONNECTED {
				retry = firstRetry
			} else {
				// Whatever the server kept, it must be checked again when
				// the connection is back.
				s.setNotReady(fmt.Errorf("%w: %w (%s)", ErrNotReady, errDisconnected, st))
			}
		case <-s.poke:
		case <-wait:
		}
	}
}

// errDisconnected says the connection to NATS is down.
var errDisconnected = errors.New("the connection to NATS is down")

// Ready returns nil when job mode is set up: NATS is reachable and every
// JetStream object is in place; otherwise an error wrapping ErrNotReady
// that says why.
func (s *Service) Ready() error {
	s.state.Lock()
	defer s.state.Unlock()
	return s.notReady
}

func (s *Service) setNotReady(err error) {
	s.state.Lock()
	defer s.state.Unlock()
	if s.notReady == nil || s.notReady.Error() != err.Error() {
		s.log.Warn("job mode not ready", "reason", err)
	}
	s.notReady = err
}

func (s *Service) setReady() {
	s.state.Lock()
	was := s.notReady
	s.notReady = nil
	s.state.Unlock()
	if was != nil {
		s.log.Info("job mode ready", "contracts", jobContracts(s.reg), "ttl", s.cfg.TTL.String(), "webhook_allow", s.cfg.WebhookAllow.String())
	}
	s.firstReady.Do(func() { close(s.readyOnce) })
}

// usable returns nil when the job records can be read and written: job
// mode was set up once, whatever happened since (a read tells).
func (s *Service) usable() error {
	if s.opened.Load() {
		return nil
	}
	return s.Ready()
}

// suspect asks the keeper for a check soon when a job operation failed in
// a way a missing JetStream object may explain.
func (s *Service) suspect(err error) {
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrFinished) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// ensureReady returns nil when job mode is ready, checking first when it
// was not: the object that was missing may be back, or recreated now.
func (s *Service) ensureReady(ctx context.Context) error {
	if s.Ready() == nil {
		return nil
	}
	if err := s.checkSince(ctx, time.Now()); err != nil {
		return err
	}
	return s.Ready()
}

// repaired is called after JetStream failed an operation that started
// at since: it checks the objects, unless a check began since, and
// reports whether they were set up again since, by this check or another
// one, so that the operation is worth another try. JetStream may refuse
// to recreate a stream for a moment right after deleting it: the check is
// tried repairTries times.
func (s *Service) repaired(ctx context.Context, since time.Time) bool {
	err := s.checkSince(ctx, since)
	for range repairTries - 1 {
		if err == nil || errors.Is(err, errDisconnected) {
			break
		}
		select {
		case <-time.After(repairWait):
		case <-ctx.Done():
			return false
		}
		err = s.checkSince(ctx, time.Now())
	}
	if err != nil {
		return false
	}
	s.state.Lock()
	defer s.state.Unlock()
	return s.fixedAt.After(since)
}

// checkSince runs a check unless one began after since, whose outcome it
// returns instead.
func (s *Service) checkSince(ctx context.Context, since time.Time) error {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.ctx.Done():
		return fmt.Errorf("%w: stopped", ErrNotReady)
	}
	defer func() { <-s.sem }()
	if s.lastCheck.After(since) {
		return s.Ready()
	}
	// Stop must not wait for a check made for a client.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	return s.check(ctx)
}

func (s *Service) checkNow(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.sem }()
	return s.check(ctx)
}

// check makes sure that every JetStream object of job mode exists,
// creating what is missing, and that the background work runs on them.
// The caller holds sem.
func (s *Service) check(ctx context.Context) error {
	s.lastCheck = time.Now()
	if st := s.nc.Status(); st != nats.CONNECTED {
		err := fmt.Errorf("%w: %w (%s)", ErrNotReady, errDisconnected, st)
		s.setNotReady(err)
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if s.running {
		missing, err := s.missing(ctx)
		if err != nil {
			err = fmt.Errorf("%w: checking the JetStream objects: %w", ErrNotReady, err)
			s.setNotReady(err)
			return err
		}
		if len(missing) == 0 {
			s.setReady()
			return nil
		}
		s.setNotReady(fmt.Errorf("%w: %s missing, recreating", ErrNotReady, strings.Join(missing, ", ")))
	}
	if err := s.setUp(ctx); err != nil {
		// The background work may be stopped, or on objects that went:
		// the next check sets everything up again.
		s.running = false
		err = fmt.Errorf("%w: %w", ErrNotReady, err)
		s.setNotReady(err)
		return err
	}
	s.state.Lock()
	s.fixedAt = time.Now()
	s.state.Unlock()
	s.running = true
	s.setReady()
	return nil
}

// setUp creates or updates every object and starts the background work.
func (s *Service) setUp(ctx context.Context) error {
	if err := Ensure(ctx, s.js, s.cfg.TTL, s.reg.All()); err != nil {
		return err
	}
	if !s.opened.Load() {
		store, err := OpenStore(ctx, s.js)
		if err != nil {
			return err
		}
		jobStream, err := s.js.Stream(ctx, wire.JobStream)
		if err != nil {
			return err
		}
		s.store, s.kv, s.jobStream = store, store.kv, jobStream
		s.opened.Store(true)
	}
	return s.startBackground(ctx)
}

// missing names the objects of Ensure that are not there.
func (s *Service) missing(ctx context.Context) ([]string, error) {
	var out []string
	for _, name := range []string{wire.JobStream, wire.JobAdvisoryStream, wire.HookStream} {
		_, err := s.js.Stream(ctx, name)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			out = append(out, "stream "+name)
		case err != nil:
			return nil, fmt.Errorf("stream %s: %w", name, err)
		}
	}
	_, err := s.js.KeyValue(ctx, wire.JobBucket)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		out = append(out, "bucket "+wire.JobBucket)
	case err != nil:
		return nil, fmt.Errorf("bucket %s: %w", wire.JobBucket, err)
	}
	if len(out) > 0 { // their consumers went with the streams
		return out, nil
	}
	consumers := [][2]string{{wire.JobAdvisoryStream, wire.JobAdvisoryConsumer}, {wire.HookStream, wire.HookConsumer}}
	for _, ct := range s.reg.All() {
		if ct.Mode == contracts.ModeJob {
			consumers = append(consumers, [2]string{wire.JobStream, wire.JobConsumer(ct.Name, ct.Version)})
		}
	}
	for _, c := range consumers {
		_, err := s.js.Consumer(ctx, c[0], c[1])
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			out = append(out, "consumer "+c[1])
		case err != nil:
			return nil, fmt.Errorf("consumer %s: %w", c[1], err)
		}
	}
	return out, nil
}

// jobContracts names the job contracts of reg.
func jobContracts(reg *contracts.Registry) []string {
	var names []string
	for _, ct := range reg.All() {
		if ct.Mode == contracts.ModeJob {
			names = append(names, ct.ID())
		}
	}
	return names
}
