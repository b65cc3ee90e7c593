// Package api is the gateway's HTTP surface: routes, handlers, middleware
// and the one place errors become problem+json.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/jobs"
	"github.com/notebridge/notebridge/gateway/replycache"
	"github.com/notebridge/notebridge/gateway/usage"
)

// DefaultBodyLimit is the largest request body accepted unless configured.
const DefaultBodyLimit = 1 << 20

// DefaultHeaderLimit is the largest request line and header block accepted
// unless configured: fasthttp's own read buffer, which every connection
// holds, so that a thousand keep-alive connections cost what they did.
const DefaultHeaderLimit = 4 << 10

// DefaultReadTimeout bounds how long a client may take to send a whole
// request, head and body, unless configured: a slow client (slowloris) or a
// body that never ends holds a connection no longer than this.
const DefaultReadTimeout = 30 * time.Second

// DefaultIdleTimeout is how long a keep-alive connection may wait for its
// next request unless configured.
const DefaultIdleTimeout = 2 * time.Minute

// minHeaderLimit leaves room for a request line and the usual headers.
const minHeaderLimit = 1 << 10

// ErrInvalidConfig is wrapped by every error Config.Validate returns.
var ErrInvalidConfig = errors.New("invalid gateway config")

// Config holds what the HTTP server needs.
type Config struct {
	// Registry holds the contracts to serve.
	Registry *contracts.Registry
	// Conn is the NATS connection requests go over.
	Conn *nats.Conn
	// Logger receives one line per request and every error; nil means slog.Default().
	Logger *slog.Logger
	// BodyLimit is the largest request body in bytes; 0 means DefaultBodyLimit.
	BodyLimit int
	// Limits bound the nesting and the numbers of a request body; a zero
	// field means its default (contracts.DefaultLimits).
	Limits contracts.Limits
	// HeaderLimit is the largest request line plus headers in bytes (431
	// above it); 0 means DefaultHeaderLimit.
	HeaderLimit int
	// ReadTimeout bounds the time to read one whole request; 0 means
	// DefaultReadTimeout.
	ReadTimeout time.Duration
	// IdleTimeout bounds the wait for a keep-alive connection's next
	// request; 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Jobs runs job mode; it is required when Registry holds a job
	// contract, and the job routes exist only then.
	Jobs *jobs.Service
	// CORSOrigins are the origins browser apps may call from (ParseOrigins);
	// none turns CORS off.
	CORSOrigins []string
	// MaxInflight bounds the sync and stream calls served at once, in all;
	// 0 means DefaultMaxInflight.
	MaxInflight int
	// MaxInflightPerContract bounds them per contract version; 0 means
	// DefaultMaxInflightPerContract.
	MaxInflightPerContract int
	// Metrics are served at GET /metrics; nil means a new set (NewMetrics).
	Metrics *Metrics
	// Keys checks API keys: with it, calls and job routes need a key
	// (RequireKey), a key calls only what it is allowed to, and a job is
	// seen only by the key that submitted it. nil serves everyone.
	Keys Authenticator
	// RateLimiter enforces the keys' rates; nil lets every key call at
	// will. It needs Keys.
	RateLimiter RateLimiter
	// TracerProvider, when set, gets a server span per request and a
	// client span per call, whose trace context the worker continues
	// (traceparent in the NATS request). nil makes no span: a client's
	// traceparent goes to the worker unchanged.
	TracerProvider trace.TracerProvider
	// Cache keeps the replies of contracts that declare "cache"; nil
	// caches nothing.
	Cache *replycache.Cache
	// Ledger records what sync calls consumed (the usage their workers
	// reported) and serves GET /usage; nil records nothing.
	Ledger *usage.Ledger
	// Budgets enforces API keys' budgets on sync calls; nil enforces none.
	// It needs Keys.
	Budgets *usage.Budgets
}

// Validate reports the first missing or impossible setting.
func (cfg *Config) Validate() error {
	switch {
	case cfg.Registry == nil:
		return fmt.Errorf("%w: no contract registry", ErrInvalidConfig)
	case cfg.Conn == nil:
		return fmt.Errorf("%w: no NATS connection", ErrInvalidConfig)
	case cfg.BodyLimit < 0:
		return fmt.Errorf("%w: body limit %d is negative", ErrInvalidConfig, cfg.BodyLimit)
	case cfg.HeaderLimit != 0 && cfg.HeaderLimit < minHeaderLimit:
		return fmt.Errorf("%w: header limit %d is under %d bytes", ErrInvalidConfig, cfg.HeaderLimit, minHeaderLimit)
	case cfg.MaxInflight < 0 || cfg.MaxInflightPerContract < 0:
		return fmt.Errorf("%w: in-flight bounds %d and %d must not be negative", ErrInvalidConfig, cfg.MaxInflight, cfg.MaxInflightPerContract)
	case cfg.ReadTimeout < 0 || cfg.IdleTimeout < 0:
		return fmt.Errorf("%w: read timeout %s or idle timeout %s is negative", ErrInvalidConfig, cfg.ReadTimeout, cfg.IdleTimeout)
	}
	if err := cfg.limits().Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if cfg.Registry.HasJobs() && cfg.Jobs == nil {
		return fmt.Errorf("%w: there are job contracts and no jobs service", ErrInvalidConfig)
	}
	return nil
}

// New builds the gateway's Fiber app.
func New(cfg Config) (*fiber.App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BodyLimit == 0 {
		cfg.BodyLimit = DefaultBodyLimit
	}
	cfg.Limits = cfg.limits()
	if cfg.HeaderLimit == 0 {
		cfg.HeaderLimit = DefaultHeaderLimit
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxInflight == 0 {
		cfg.MaxInflight = DefaultMaxInflight
	}
	if cfg.MaxInflightPerContract == 0 {
		cfg.MaxInflightPerContract = DefaultMaxInflightPerContract
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(cfg.Registry, cfg.Conn)
	}
	doc, err := OpenAPI(cfg.Registry, DocOptions{Keys: cfg.Keys != nil, Usage: cfg.Ledger != nil})
	if err != nil {
		return nil, err
	}
	spec, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	app := newApp(cfg)
	allows := routes(app, cfg, spec)
	unknownMethods(app, allows, cfg.Logger, cfg.BodyLimit)
	return app, nil
}

// limits is cfg.Limits with every zero field at its default.
func (cfg *Config) limits() contracts.Limits {
	lim := cfg.Limits
	if lim.MaxDepth == 0 {
		lim.MaxDepth = contracts.DefaultMaxDepth
	}
	if lim.MaxNumberDigits == 0 {
		lim.MaxNumberDigits = contracts.DefaultMaxNumberDigits
	}
	return lim
}

// newApp is the gateway's Fiber app without its routes: the server's
// limits and hooks, and the middleware every request passes. cfg has its
// defaults filled in.
func newApp(cfg Config) *fiber.App {
	app := fiber.New(fiber.Config{
		AppName:               "notebridge",
		BodyLimit:             cfg.BodyLimit,
		ReadBufferSize:        cfg.HeaderLimit, // fasthttp reads the whole head into this buffer: 431 past it
		JSONEncoder:           marshalJSON,
		ErrorHandler:          ErrorHandler(cfg.Logger, cfg.BodyLimit, cfg.HeaderLimit),
		DisableStartupMessage: true,
		ReadTimeout:           cfg.ReadTimeout,
		IdleTimeout:           cfg.IdleTimeout,
	})
	srv := app.Server()
	srv.HeaderReceived = headGuard(cfg.BodyLimit)
	srv.ConnState = trackIdle
	srv.SecureErrorLogMessage = true // fasthttp's parse errors would quote the request's bytes, credentials included
	app.Use(RequestID(), AccessLog(cfg.Logger), Recover(cfg.Logger), HeadCheck(cfg.BodyLimit))
	if cfg.TracerProvider != nil {
		app.Use(Trace(cfg.TracerProvider))
	}
	if len(cfg.CORSOrigins) > 0 {
		app.Use(CORS(cfg.CORSOrigins))
	}
	return app
}

// AccessLog writes one log line per request, with its id and outcome.
func AccessLog(log *slog.Logger) fiber.Handler {
	h := log.Handler()
	return func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		status := c.Response().StatusCode()
		if err != nil {
			status = errorStatus(err)
		}
		logRequest(h, c, status, start)
		return err
	}
}

// logRequest writes the access log line of a request. The record goes
// straight to the handler, with typed attributes: log.Info would box every
// value and walk the stack for a source line, which would always point here.
func logRequest(h slog.Handler, c *fiber.Ctx, status int, start time.Time) {
	ctx := context.Background()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	now := time.Now()
	r := slog.NewRecord(now, slog.LevelInfo, "request", 0)
	r.AddAttrs(slog.String("request_id", RequestIDOf(c)), slog.String("method", c.Method()), slog.String("path", c.Path()),
		slog.Int("status", status), slog.Float64("duration_ms", float64(now.Sub(start).Microseconds())/1000))
	if name := keyName(c); name != "" {
		r.AddAttrs(slog.String("key", name))
	}
	if k, ok := c.Locals(callLocal).(*call); ok {
		r.AddAttrs(slog.String("contract", k.ct.ID()))
	}
	if sc := trace.SpanContextFromContext(c.UserContext()); sc.HasTraceID() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()))
	}
	_ = h.Handle(ctx, r)
}

// errorStatus is the status ErrorHandler answers err with; the access log
// needs it before ErrorHandler runs.
func errorStatus(err error) int {
	var p *Problem
	var fe *fiber.Error
	switch {
	case errors.As(err, &p):
		return p.Status
	case errors.As(err, &fe):
		return fe.Code
	}
	return fiber.StatusInternalServerError
}
