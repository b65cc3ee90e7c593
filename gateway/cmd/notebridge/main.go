// Command notebridge is the notebridge gateway: it serves contracts over
// HTTP and forwards requests to workers over NATS.
//
//	notebridge [serve] [flags]       run the gateway (embedded NATS unless -nats-url)
//	notebridge nats [flags]          run only the embedded NATS server
//	notebridge contracts lint|test|diff [flags]
//	                                 check contracts in CI (docs/contracts.md)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	_ "net/http/pprof" // for -debug-listen
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/api"
	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/embedded"
	"github.com/notebridge/notebridge/gateway/internal/jsplace"
	"github.com/notebridge/notebridge/gateway/internal/redact"
	"github.com/notebridge/notebridge/gateway/jobs"
	"github.com/notebridge/notebridge/gateway/replycache"
	"github.com/notebridge/notebridge/gateway/usage"
	"github.com/notebridge/notebridge/gateway/webhook"
)

// shutdownGrace bounds how long in-flight HTTP requests may finish on exit.
const shutdownGrace = 15 * time.Second

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "nats" || args[0] == "contracts" || args[0] == "openapi" || args[0] == "keys" || args[0] == "healthcheck") {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var err error
	switch cmd {
	case "nats":
		err = runNATS(ctx, args)
	case "contracts":
		err = runContracts(ctx, args, os.Stdout, os.Stderr)
	case "openapi":
		err = runOpenAPI(args, os.Stdout, os.Stderr)
	case "keys":
		err = runKeys(ctx, args, os.Stdout, os.Stderr)
	case "healthcheck":
		err = runHealthcheck(ctx, args, os.Stderr)
	default:
		err = runServe(ctx, args)
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errContractsFailed): // the report says why
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "notebridge:", err)
		os.Exit(1)
	}
}

// serveUsage is what `notebridge --help` prints before the flags of serve, the
// command that runs when none is named.
const serveUsage = `usage: notebridge [command] [flags]

commands:
  serve      run the gateway (the default when no command is named)
  nats       run only the embedded NATS server with JetStream and print its URL
  contracts  lint, test and diff contracts in CI (notebridge contracts -h)
  openapi    write the OpenAPI document of the contracts, as /openapi.json serves it
  keys       create, list and revoke the API keys clients call with (notebridge keys -h)
  healthcheck  exit 0 when a gateway's /readyz answers 200 (a container's healthcheck)

Each command takes -h. The flags of serve:
`

// runServe: config → contracts → NATS → HTTP server → wait for a signal → drain.
func runServe(ctx context.Context, args []string) error {
	var cfg config
	fs := flag.NewFlagSet("notebridge serve", flag.ContinueOnError)
	serveFlags(fs, &cfg)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), serveUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	logOut := newLogWriter(os.Stderr)
	defer logOut.Close()
	log, err := newLogger(logOut, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}

	if cfg.DebugListen != "" {
		go serveDebug(cfg.DebugListen, log)
	}
	if err := cfg.Limits.Validate(); err != nil {
		return fmt.Errorf("-max-depth or -max-number-digits: %w", err)
	}
	if err := checkAuth(cfg.Auth); err != nil {
		return err
	}
	if cfg.JSReplicas < 1 || cfg.JSReplicas > 5 {
		return fmt.Errorf("-js-replicas %d: want 1 to 5, JetStream's range", cfg.JSReplicas)
	}
	if cfg.NATSAuth != busLocked && cfg.NATSAuth != busOpen {
		return fmt.Errorf("-nats-auth %q: want %s or %s", cfg.NATSAuth, busLocked, busOpen)
	}
	origins, err := api.ParseOrigins(cfg.CORSOrigins)
	if err != nil {
		return fmt.Errorf("-cors-origins: %w", err)
	}
	reg, err := contracts.Load(strings.Split(cfg.ContractsDir, ",")...)
	if err != nil {
		return err
	}
	jobsCfg, err := jobsConfig(cfg, log)
	if err != nil {
		return err
	}
	natsURL := cfg.NATSURL
	if natsURL == "" {
		ns, url, err := startBus(cfg, log)
		if err != nil {
			return err
		}
		defer stopEmbedded(ns)
		natsURL = url
		log.Info("embedded NATS server started", "url", redact.URLs(natsURL), "data_dir", cfg.DataDir)
	}
	auth, err := natsAuth(cfg)
	if err != nil {
		return err
	}
	nc, err := connect(natsURL, auth, log)
	if err != nil {
		return err
	}
	defer nc.Drain() //nolint:errcheck // exiting anyway

	// Every stream and bucket the gateway creates has -js-replicas replicas.
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	js = jsplace.Replicated(js, cfg.JSReplicas)
	jobsCfg.JetStream = js
	svc, err := startJobs(nc, reg, jobsCfg)
	if err != nil {
		return err
	}
	if svc != nil {
		defer svc.Stop()
	}
	keyStore, limiter, err := watchKeys(ctx, js, cfg.Auth, log)
	if err != nil {
		return err
	}
	cache, err := replyCache(js, cfg.CacheMaxBytes, cfg.CacheLocalBytes)
	if err != nil {
		return err
	}
	ledger, budgets, err := accounting(js, cfg.UsageRetention)
	if err != nil {
		return err
	}
	tracer, stopTracing, err := setupTracing(ctx)
	if err != nil {
		return fmt.Errorf("OpenTelemetry: %w", err)
	}
	defer func() {
		flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = stopTracing(flush) // the spans of the last requests
	}()
	if tracer != nil {
		log.Info("tracing: spans exported over OTLP/HTTP", "service", serviceName())
	}
	app, err := api.New(api.Config{Registry: reg, Conn: nc, Logger: log, BodyLimit: cfg.BodyLimit, HeaderLimit: cfg.HeaderLimit, Limits: cfg.Limits,
		ReadTimeout: cfg.ReadTimeout, IdleTimeout: cfg.IdleTimeout, Jobs: svc, Keys: keyStore, RateLimiter: limiter, CORSOrigins: origins, TracerProvider: tracer,
		MaxInflight: cfg.MaxInflight, MaxInflightPerContract: cfg.MaxPerContract, Cache: cache,
		Ledger: ledger, Budgets: budgets})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	hangups := notifyHangups(ctx)
	go reloadOnHangup(ctx, hangups, reg, strings.Split(cfg.ContractsDir, ","), log)
	log.Info("gateway listening", "url", "http://"+ln.Addr().String(), "contracts", len(reg.All()), "nats", redact.URLs(natsURL))
	served := make(chan error, 1)
	go func() { served <- app.Listener(api.LingeringListener(ln, cfg.Linger)) }()

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", shutdownGrace)
	return app.ShutdownWithTimeout(shutdownGrace)
}

// replyCache is the cache of deterministic contracts' replies, in
// JetStream; its bucket is made on first use.
func replyCache(js jetstream.JetStream, maxBytes, localBytes int) (*replycache.Cache, error) {
	if maxBytes < 1<<20 {
		return nil, fmt.Errorf("-cache-max-bytes %d: want at least 1 MiB", maxBytes)
	}
	if localBytes < 0 {
		return nil, fmt.Errorf("-cache-local-bytes %d: want 0 (none) or more", localBytes)
	}
	return replycache.New(js, int64(maxBytes), localBytes), nil
}

// accounting is the usage ledger and, with API keys, their budgets, in
// JetStream; their buckets are made on first use.
func accounting(js jetstream.JetStream, retention time.Duration) (*usage.Ledger, *usage.Budgets, error) {
	if retention < 24*time.Hour {
		return nil, nil, fmt.Errorf("-usage-retention %s: want at least 24h", retention)
	}
	return usage.NewLedger(js, retention), usage.NewBudgets(js), nil
}

// jobsConfig reads the job flags, so that a mistake in them stops the
// gateway before it starts anything.
func jobsConfig(cfg config, log *slog.Logger) (jobs.Config, error) {
	allow, err := webhook.ParseAllowList(cfg.WebhookAllow)
	if err != nil {
		return jobs.Config{}, fmt.Errorf("-webhook-allow: %w", err)
	}
	jc := jobs.Config{TTL: cfg.JobTTL, WebhookAllow: allow, Webhook: webhook.Sender{Secret: cfg.WebhookSecret}, Logger: log}
	if cfg.JobTTL <= 0 {
		return jobs.Config{}, fmt.Errorf("-job-ttl: %s must be positive", cfg.JobTTL)
	}
	if err := jc.Validate(); err != nil {
		return jobs.Config{}, fmt.Errorf("%w (set -webhook-secret with -webhook-allow)", err)
	}
	return jc, nil
}

// startJobs starts job mode when a contract needs it: the JetStream
// stream, bucket and consumers, and the background work, set up as soon as
// NATS is reachable and kept so (jobs.New). It returns nil when no
// contract is a job contract.
func startJobs(nc *nats.Conn, reg *contracts.Registry, cfg jobs.Config) (*jobs.Service, error) {
	if !reg.HasJobs() {
		return nil, nil
	}
	return jobs.New(nc, reg, cfg)
}

// runNATS runs only the embedded NATS server and prints its URL on stdout
// once it accepts connections, for tests and for workers on a laptop.
func runNATS(ctx context.Context, args []string) error {
	var cfg config
	fs := flag.NewFlagSet("notebridge nats", flag.ContinueOnError)
	natsFlags(fs, &cfg, "")
	natsAuthFlags(fs, &cfg)
	natsClusterFlags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cluster, err := clusterConfig(cfg)
	if err != nil {
		return err
	}
	ns, err := embedded.Start(embedded.Config{
		Host: cfg.NATSHost, Port: cfg.NATSPort, DataDir: cfg.DataDir,
		User: cfg.NATSUser, Password: cfg.NATSPassword, Token: cfg.NATSToken, Cluster: cluster,
	})
	if err != nil {
		return err
	}
	defer stopEmbedded(ns)
	fmt.Println(ns.ClientURL())
	<-ctx.Done()
	return nil
}

func startEmbedded(cfg config) (*server.Server, error) {
	return embedded.Start(embedded.Config{
		Host: cfg.NATSHost, Port: cfg.NATSPort, DataDir: cfg.DataDir,
		User: cfg.NATSUser, Password: cfg.NATSPassword, Token: cfg.NATSToken,
	})
}

// clusterConfig reads the "nats" command's cluster flags.
func clusterConfig(cfg config) (embedded.Cluster, error) {
	c := embedded.Cluster{Name: cfg.ClusterName, ServerName: cfg.ServerName, Port: cfg.ClusterPort}
	if c.Name == "" {
		if cfg.Routes != "" {
			return c, errors.New("-routes needs -cluster-name")
		}
		return c, nil
	}
	for _, r := range strings.Split(cfg.Routes, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		u, err := url.Parse(r)
		if err != nil || u.Scheme != "nats" || u.Host == "" {
			return c, fmt.Errorf("-routes: %q is not a nats://host:port URL", r)
		}
		c.Routes = append(c.Routes, u)
	}
	return c, nil
}

func stopEmbedded(ns *server.Server) {
	ns.Shutdown()
	ns.WaitForShutdown()
}

// reconnectWait is the first wait between attempts to reach NATS; it
// doubles with every round of failed attempts, up to maxReconnectWait.
const (
	reconnectWait    = 250 * time.Millisecond
	maxReconnectWait = 5 * time.Second
)

// connect joins NATS and keeps trying for as long as the process lives,
// from the start too: a gateway must survive a broker restart, and may
// start before its broker. Until it is connected it answers 503 (and
// /readyz says so). Nothing it logs or returns holds the URL's token or
// password.
func connect(url string, auth []nats.Option, log *slog.Logger) (*nats.Conn, error) {
	r := redact.New(url)
	nc, err := nats.Connect(url, append(auth,
		nats.Name("notebridge-gateway"),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.CustomReconnectDelay(func(attempts int) time.Duration {
			return reconnectDelay(attempts) + time.Duration(rand.Int64N(int64(reconnectWait)))
		}),
		nats.ConnectHandler(func(nc *nats.Conn) { log.Info("NATS connected", "url", redact.URLs(nc.ConnectedUrl())) }),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("NATS unreachable, retrying", "url", redact.URLs(url), "err", r.Error(err))
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("NATS disconnected", "err", r.Error(err)) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("NATS reconnected", "url", redact.URLs(nc.ConnectedUrl())) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("NATS error", "subject", subject, "err", r.Error(err))
		}),
	)...)
	if err != nil {
		return nil, fmt.Errorf("-nats-url %s: %w", redact.URLs(url), r.Error(err))
	}
	if !nc.IsConnected() {
		log.Warn("NATS unreachable, retrying; the gateway is not ready meanwhile", "url", redact.URLs(url))
	}
	return nc, nil
}

// reconnectDelay is the wait before the next round of attempts, once
// every server was tried attempts times: reconnectWait, doubled each
// round, up to maxReconnectWait.
func reconnectDelay(attempts int) time.Duration {
	d := reconnectWait
	for i := 1; i < attempts && d < maxReconnectWait; i++ {
		d *= 2
	}
	return min(d, maxReconnectWait)
}

// serveDebug serves pprof on its own listener, away from the public port.
func serveDebug(addr string, log *slog.Logger) {
	log.Info("debug listener", "url", "http://"+addr+"/debug/pprof/")
	if err := http.ListenAndServe(addr, nil); err != nil { //nolint:gosec // profiling endpoint, operator-chosen address
		log.Error("debug listener failed", "err", err)
	}
}

func newLogger(out io.Writer, format, level string) (*slog.Logger, error) {
	var opts slog.HandlerOptions
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	opts.Level = lvl
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(out, &opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(out, &opts)), nil
	}
	return nil, fmt.Errorf("-log-format: %q is neither text nor json", format)
}
