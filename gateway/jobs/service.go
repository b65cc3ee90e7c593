package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/webhook"
)

// DefaultTTL is how long job records, results and idempotency keys live
// after their last write, unless configured.
const DefaultTTL = 24 * time.Hour

// Errors of the Service.
var (
	// ErrInvalidConfig is wrapped by every error Config.Validate returns.
	ErrInvalidConfig = errors.New("invalid jobs config")
	// ErrFinished is returned when cancelling a job that succeeded or failed.
	ErrFinished = errors.New("job already finished")
	// ErrIdempotencyKeyReused is returned when an Idempotency-Key comes
	// back with another contract or body than the first time.
	ErrIdempotencyKeyReused = errors.New("idempotency key reused for another request")
	// ErrBadCallback is returned for a callback that is not an absolute
	// http or https URL.
	ErrBadCallback = errors.New("callback is not an absolute http(s) URL")
	// ErrCallbackNotAllowed is returned for a callback whose host is not
	// in the allow-list.
	ErrCallbackNotAllowed = errors.New("callback host not allowed")
)

// Config holds what the Service needs besides a NATS connection.
type Config struct {
	// TTL is how long records live after their last write; 0 means DefaultTTL.
	TTL time.Duration
	// WebhookAllow lists the hosts callbacks may go to; empty refuses
	// every callback.
	WebhookAllow webhook.AllowList
	// Webhook signs and sends callbacks; its Secret is required when
	// WebhookAllow is not empty.
	Webhook webhook.Sender
	// Logger receives what happens in the background; nil means slog.Default().
	Logger *slog.Logger
	// JetStream creates and reaches job mode's streams and bucket; nil
	// means jetstream.New on the connection (jsplace.Replicated decides
	// their replicas).
	JetStream jetstream.JetStream
}

// Validate reports the first impossible setting.
func (cfg *Config) Validate() error {
	switch {
	case cfg.TTL < 0:
		return fmt.Errorf("%w: TTL %s is negative", ErrInvalidConfig, cfg.TTL)
	case !cfg.WebhookAllow.Empty() && cfg.Webhook.Secret == "":
		return fmt.Errorf("%w: webhooks are allowed to %s but there is no secret to sign them with", ErrInvalidConfig, cfg.WebhookAllow)
	case cfg.Webhook.MaxBackoff > webhook.DefaultMaxBackoff:
		return fmt.Errorf("%w: webhook backoff is capped at %s", ErrInvalidConfig, webhook.DefaultMaxBackoff)
	}
	return nil
}

// Service is the gateway's side of job mode. Every gateway replica runs
// one; they share the work through JetStream.
type Service struct {
	js        jetstream.JetStream
	nc        *nats.Conn
	reg       *contracts.Registry
	store     *Store             // set once, by the first setup (see opened)
	kv        jetstream.KeyValue // set with store
	jobStream jetstream.Stream   // set with store
	cfg       Config
	log       *slog.Logger

	ctx    context.Context // ends at Stop
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stops  []func() // ends the background work; see startBackground

	mu      sync.Mutex // guards stopped, and wg.Add against Stop's wg.Wait
	stopped bool

	keeper // keeps the JetStream objects and the background work in place
}

// New returns a Service for the job contracts of reg. It sets job mode up
// in the background, as soon as NATS is reachable: it creates the
// JetStream objects (Ensure) and starts the background work, marking jobs
// failed when JetStream gives up on them and delivering webhooks. Then it
// keeps them so: it recreates any object found missing, checking every
// checkInterval, after a reconnection, and when a job operation fails.
// Ready reports how it goes; Stop ends it.
func New(nc *nats.Conn, reg *contracts.Registry, cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	js := cfg.JetStream
	if js == nil {
		var err error
		if js, err = jetstream.New(nc); err != nil {
			return nil, err
		}
	}
	s := &Service{js: js, nc: nc, reg: reg, cfg: cfg, log: cfg.Logger}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.startKeeper()
	return s, nil
}

// Start is New, then waits until job mode is ready; when ctx ends first
// it stops the Service and returns why it was not ready.
func Start(ctx context.Context, nc *nats.Conn, reg *contracts.Registry, cfg Config) (*Service, error) {
	s, err := New(nc, reg, cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-s.readyOnce:
		return s, nil
	case <-ctx.Done():
		err := s.Ready()
		if err == nil {
			return s, nil
		}
		s.Stop()
		return nil, fmt.Errorf("%w (%w)", err, ctx.Err())
	}
}

// Stop ends the background work. A webhook delivery in progress is left
// unacknowledged, so another gateway (or this one, restarted) makes it.
func (s *Service) Stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.cancel()
	s.stopKeeper()
	s.stopBackground()
	s.wg.Wait()
}

// startBackground starts, or starts again, the background work on the
// JetStream objects: after they were recreated, the old consumers and
// watch are gone with them. Deliveries in progress go on.
func (s *Service) startBackground(ctx context.Context) error {
	s.stopBackground()
	for _, start := range []func(context.Context) error{s.watchAdvisories, s.watchFinished, s.deliverHooks} {
		if err := start(ctx); err != nil {
			s.stopBackground()
			return err
		}
	}
	return nil
}

func (s *Service) stopBackground() {
	for _, stop := range s.stops {
		stop()
	}
	s.stops = nil
}

// JetStream is the JetStream context the service creates its objects in.
func (s *Service) JetStream() jetstream.JetStream { return s.js }

// TTL is how long records live after their last write.
func (s *Service) TTL() time.Duration { return s.cfg.TTL }

// Get returns the record of a job.
func (s *Service) Get(ctx context.Context, id string) (*Record, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	r, _, err := s.store.Get(ctx, id)
	s.suspect(err)
	return r, err
}

// CheckCallback parses a callback URL and checks it against the
// allow-list. It returns the parsed URL whenever it parses, also with
// ErrCallbackNotAllowed, so the caller can name the host.
func (s *Service) CheckCallback(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("%w: %q", ErrBadCallback, raw)
	}
	if !s.cfg.WebhookAllow.Allows(u) {
		return u, fmt.Errorf("%w: %s", ErrCallbackNotAllowed, u.Host)
	}
	return u, nil
}

// consume runs handle on every message of a durable consumer until Stop,
// at most limit at a time, each in its own goroutine.
func (s *Service) consume(ctx context.Context, stream, durable string, limit int, handle func(jetstream.Msg)) error {
	c, err := s.js.Consumer(ctx, stream, durable)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", durable, err)
	}
	sem := make(chan struct{}, limit)
	cc, err := c.Consume(func(msg jetstream.Msg) {
		select {
		case sem <- struct{}{}:
		case <-s.ctx.Done():
			return
		}
		s.mu.Lock()
		if s.stopped { // left unacknowledged: JetStream delivers it again
			s.mu.Unlock()
			<-sem
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer func() { <-sem; s.wg.Done() }()
			handle(msg)
		}()
	}, jetstream.PullMaxMessages(limit), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		s.log.Debug("jobs: consumer", "consumer", durable, "err", err)
	}))
	if err != nil {
		return fmt.Errorf("consumer %s: %w", durable, err)
	}
	s.stops = append(s.stops, cc.Stop)
	return nil
}
