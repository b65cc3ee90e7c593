package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/notebridge/notebridge/gateway/api"
	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/jobs"
	"github.com/notebridge/notebridge/gateway/replycache"
	"github.com/notebridge/notebridge/gateway/usage"
)

// config is everything the command reads from flags and NOTEBRIDGE_* variables.
type config struct {
	Listen       string
	ContractsDir string
	NATSURL      string
	NATSHost     string
	NATSPort     int
	DataDir      string
	NATSUser     string
	NATSPassword string
	NATSToken    string
	BodyLimit    int
	HeaderLimit  int
	Linger       time.Duration
	ReadTimeout  time.Duration
	IdleTimeout  time.Duration
	// Limits bound a request body's nesting and numbers.
	Limits          contracts.Limits
	LogFormat       string
	LogLevel        string
	DebugListen     string
	JobTTL          time.Duration
	WebhookSecret   string
	WebhookAllow    string
	Auth            string
	CORSOrigins     string
	MaxInflight     int
	MaxPerContract  int
	CacheMaxBytes   int
	CacheLocalBytes int
	UsageRetention  time.Duration
	JSReplicas      int
	// A node of a cluster ("nats" command).
	ClusterName, ServerName, Routes string
	ClusterPort                     int
	NATSAuth                        string
	// Credentials for -nats-url beyond the URL's user and password or
	// token: a creds file, an nkey seed, TLS files.
	NATSCreds, NATSNkeySeed, NATSTLSCA, NATSTLSCert, NATSTLSKey string
	// The locked embedded server's passwords, when given rather than made.
	NATSGatewayPassword, NATSWorkerPassword string
}

// The values of -auth.
const (
	authKeys = "keys" // calls and jobs need an API key (notebridge keys)
	authNone = "none" // anyone may call anything: for a laptop only
)

// authFlag is shared by "serve" and "openapi": whether calls need API keys.
func authFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "auth", envOr("NOTEBRIDGE_AUTH", authKeys),
		"keys: calls and job routes need an API key from `notebridge keys create` (Authorization: Bearer); none: anyone may call anything, for development only (env NOTEBRIDGE_AUTH)")
}

// checkAuth refuses an -auth value that is neither keys nor none.
func checkAuth(v string) error {
	if v != authKeys && v != authNone {
		return fmt.Errorf("-auth %q: want %s or %s", v, authKeys, authNone)
	}
	return nil
}

// envOr returns the variable's value, or def when it is unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envDurationOr(name string, def time.Duration) time.Duration {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "notebridge: %s=%q is not a duration such as 24h; using %s\n", name, v, def)
		return def
	}
	return d
}

func envIntOr(name string, def int) int {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "notebridge: %s=%q is not an integer; using %d\n", name, v, def)
		return def
	}
	return n
}

// natsFlags are shared by "serve" (prefix "nats-") and "nats" (no prefix):
// where the embedded server listens.
func natsFlags(fs *flag.FlagSet, cfg *config, prefix string) {
	fs.StringVar(&cfg.NATSHost, prefix+"host", envOr("NOTEBRIDGE_NATS_HOST", "127.0.0.1"), "embedded NATS: interface to listen on (env NOTEBRIDGE_NATS_HOST)")
	fs.IntVar(&cfg.NATSPort, prefix+"port", envIntOr("NOTEBRIDGE_NATS_PORT", 4222), "embedded NATS: client port, 0 for a free one (env NOTEBRIDGE_NATS_PORT)")
	fs.StringVar(&cfg.DataDir, "data-dir", envOr("NOTEBRIDGE_DATA_DIR", ".notebridge/data"), "embedded NATS: JetStream data directory (env NOTEBRIDGE_DATA_DIR)")
	fs.StringVar(&cfg.LogFormat, "log-format", envOr("NOTEBRIDGE_LOG_FORMAT", "text"), "log format: text or json (env NOTEBRIDGE_LOG_FORMAT)")
	fs.StringVar(&cfg.LogLevel, "log-level", envOr("NOTEBRIDGE_LOG_LEVEL", "info"), "least level logged: debug, info (one line per request), warn or error (env NOTEBRIDGE_LOG_LEVEL)")
}

// natsClusterFlags are the "nats" command's: a node of a cluster.
func natsClusterFlags(fs *flag.FlagSet, cfg *config) {
	fs.StringVar(&cfg.ClusterName, "cluster-name", envOr("NOTEBRIDGE_NATS_CLUSTER_NAME", ""), "make this server a node of the cluster of this name; empty: a single server (env NOTEBRIDGE_NATS_CLUSTER_NAME)")
	fs.StringVar(&cfg.ServerName, "server-name", envOr("NOTEBRIDGE_NATS_SERVER_NAME", ""), "this node's name, unique in the cluster (env NOTEBRIDGE_NATS_SERVER_NAME)")
	fs.IntVar(&cfg.ClusterPort, "cluster-port", envIntOr("NOTEBRIDGE_NATS_CLUSTER_PORT", 6222), "port the other nodes' routes reach this one on (env NOTEBRIDGE_NATS_CLUSTER_PORT)")
	fs.StringVar(&cfg.Routes, "routes", envOr("NOTEBRIDGE_NATS_ROUTES", ""), "the nodes' route URLs, comma-separated (nats://host:6222); a node may list itself (env NOTEBRIDGE_NATS_ROUTES)")
}

// natsAuthFlags are the "nats" command's: the credentials clients of the
// embedded server must present (none by default).
func natsAuthFlags(fs *flag.FlagSet, cfg *config) {
	fs.StringVar(&cfg.NATSUser, "user", envOr("NOTEBRIDGE_NATS_USER", ""), "embedded NATS: user clients log in as, with -password (env NOTEBRIDGE_NATS_USER)")
	secretVar(fs, &cfg.NATSPassword, "password", envOr("NOTEBRIDGE_NATS_PASSWORD", ""), "embedded NATS: `password` of -user (env NOTEBRIDGE_NATS_PASSWORD)")
	secretVar(fs, &cfg.NATSToken, "token", envOr("NOTEBRIDGE_NATS_TOKEN", ""), "embedded NATS: `token` clients must present (env NOTEBRIDGE_NATS_TOKEN)")
}

func serveFlags(fs *flag.FlagSet, cfg *config) {
	fs.StringVar(&cfg.Listen, "listen", envOr("NOTEBRIDGE_LISTEN", "127.0.0.1:8080"), "HTTP listen address (env NOTEBRIDGE_LISTEN)")
	fs.StringVar(&cfg.ContractsDir, "contracts-dir", envOr("NOTEBRIDGE_CONTRACTS_DIR", "contracts"), "directories of contract manifests, comma-separated (env NOTEBRIDGE_CONTRACTS_DIR)")
	urlsVar(fs, &cfg.NATSURL, "nats-url", envOr("NOTEBRIDGE_NATS_URL", ""), "NATS server `url`s to join, comma-separated; empty starts an embedded server (env NOTEBRIDGE_NATS_URL)")
	fs.StringVar(&cfg.DebugListen, "debug-listen", envOr("NOTEBRIDGE_DEBUG_LISTEN", ""), "address for Go's pprof profiles (/debug/pprof/); empty disables (env NOTEBRIDGE_DEBUG_LISTEN)")
	fs.IntVar(&cfg.BodyLimit, "body-limit", envIntOr("NOTEBRIDGE_BODY_LIMIT", api.DefaultBodyLimit), "largest request body in bytes (env NOTEBRIDGE_BODY_LIMIT)")
	fs.IntVar(&cfg.Limits.MaxDepth, "max-depth", envIntOr("NOTEBRIDGE_MAX_DEPTH", contracts.DefaultMaxDepth), "deepest nesting of arrays and objects in a request body, 1 to 1000; deeper answers 400 (env NOTEBRIDGE_MAX_DEPTH)")
	fs.IntVar(&cfg.Limits.MaxNumberDigits, "max-number-digits", envIntOr("NOTEBRIDGE_MAX_NUMBER_DIGITS", contracts.DefaultMaxNumberDigits), "most digits of a number in a request body, 1 to 4300; more answers 422 (env NOTEBRIDGE_MAX_NUMBER_DIGITS)")
	fs.IntVar(&cfg.HeaderLimit, "header-limit", envIntOr("NOTEBRIDGE_HEADER_LIMIT", api.DefaultHeaderLimit), "largest request line plus headers in bytes, at least 1024; 431 above it (env NOTEBRIDGE_HEADER_LIMIT)")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", envDurationOr("NOTEBRIDGE_READ_TIMEOUT", api.DefaultReadTimeout), "longest a client may take to send one whole request, head and body; the connection is closed past it (env NOTEBRIDGE_READ_TIMEOUT)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", envDurationOr("NOTEBRIDGE_IDLE_TIMEOUT", api.DefaultIdleTimeout), "longest a keep-alive connection may wait for its next request (env NOTEBRIDGE_IDLE_TIMEOUT)")
	fs.DurationVar(&cfg.Linger, "linger", envDurationOr("NOTEBRIDGE_LINGER", api.DefaultLinger), "how long a connection the gateway closes mid-request (413, 431, 400) keeps reading and discarding what the client still sends, so the client reads the answer rather than a reset; 0 closes at once (env NOTEBRIDGE_LINGER)")
	fs.DurationVar(&cfg.JobTTL, "job-ttl", envDurationOr("NOTEBRIDGE_JOB_TTL", jobs.DefaultTTL), "how long job records, results and idempotency keys live after their last change (env NOTEBRIDGE_JOB_TTL)")
	secretVar(fs, &cfg.WebhookSecret, "webhook-secret", envOr("NOTEBRIDGE_WEBHOOK_SECRET", ""), "`secret` that signs job webhooks (Notebridge-Signature); required with -webhook-allow (env NOTEBRIDGE_WEBHOOK_SECRET)")
	fs.StringVar(&cfg.WebhookAllow, "webhook-allow", envOr("NOTEBRIDGE_WEBHOOK_ALLOW", ""), "hosts job webhooks may go to, comma-separated host or host:port; empty refuses every Callback-Url (env NOTEBRIDGE_WEBHOOK_ALLOW)")
	authFlag(fs, &cfg.Auth)
	fs.StringVar(&cfg.NATSCreds, "nats-creds", envOr("NOTEBRIDGE_NATS_CREDS", ""), "-nats-url: a NATS credentials `file` (a user JWT and its nkey seed) (env NOTEBRIDGE_NATS_CREDS)")
	fs.StringVar(&cfg.NATSNkeySeed, "nats-nkey-seed", envOr("NOTEBRIDGE_NATS_NKEY_SEED", ""), "-nats-url: a `file` holding the user's nkey seed (env NOTEBRIDGE_NATS_NKEY_SEED)")
	fs.StringVar(&cfg.NATSTLSCA, "nats-tls-ca", envOr("NOTEBRIDGE_NATS_TLS_CA", ""), "-nats-url: CA certificate `file` (PEM) to verify the servers with (env NOTEBRIDGE_NATS_TLS_CA)")
	fs.StringVar(&cfg.NATSTLSCert, "nats-tls-cert", envOr("NOTEBRIDGE_NATS_TLS_CERT", ""), "-nats-url: client certificate `file` (PEM), with -nats-tls-key (env NOTEBRIDGE_NATS_TLS_CERT)")
	fs.StringVar(&cfg.NATSTLSKey, "nats-tls-key", envOr("NOTEBRIDGE_NATS_TLS_KEY", ""), "-nats-url: the client certificate's key `file` (PEM) (env NOTEBRIDGE_NATS_TLS_KEY)")
	secretVar(fs, &cfg.NATSGatewayPassword, "nats-gateway-password", envOr("NOTEBRIDGE_NATS_GATEWAY_PASSWORD", ""), "embedded NATS, locked: the gateway user's `password`, with -nats-worker-password; empty: made at the first start and kept in -data-dir (env NOTEBRIDGE_NATS_GATEWAY_PASSWORD)")
	secretVar(fs, &cfg.NATSWorkerPassword, "nats-worker-password", envOr("NOTEBRIDGE_NATS_WORKER_PASSWORD", ""), "embedded NATS, locked: the worker user's `password` (env NOTEBRIDGE_NATS_WORKER_PASSWORD)")
	fs.StringVar(&cfg.NATSAuth, "nats-auth", envOr("NOTEBRIDGE_NATS_AUTH", busLocked), "embedded NATS: locked (a gateway user, a worker user that may only serve contracts, no anonymous client; their URLs in -data-dir's gateway.url and worker.url) or open (anyone on the machine: a laptop only) (env NOTEBRIDGE_NATS_AUTH)")
	fs.IntVar(&cfg.MaxInflight, "max-inflight", envIntOr("NOTEBRIDGE_MAX_INFLIGHT", api.DefaultMaxInflight), "most sync and stream calls served at once; past it, 503 overloaded at once (env NOTEBRIDGE_MAX_INFLIGHT)")
	fs.IntVar(&cfg.CacheMaxBytes, "cache-max-bytes", envIntOr("NOTEBRIDGE_CACHE_MAX_BYTES", replycache.DefaultMaxBytes), "bytes the reply cache of deterministic contracts (manifest \"cache\") may hold in JetStream; when full, new replies are not stored until old ones expire (env NOTEBRIDGE_CACHE_MAX_BYTES)")
	fs.IntVar(&cfg.CacheLocalBytes, "cache-local-bytes", envIntOr("NOTEBRIDGE_CACHE_LOCAL_BYTES", replycache.DefaultLocalBytes), "bytes of the reply cache's most recently used entries each gateway keeps in memory too, so their hits need no JetStream round trip; 0: none (env NOTEBRIDGE_CACHE_LOCAL_BYTES)")
	fs.IntVar(&cfg.JSReplicas, "js-replicas", envIntOr("NOTEBRIDGE_JS_REPLICAS", 1), "replicas of the JetStream streams and buckets the gateway creates (jobs, keys, rate limits, budgets, usage, cache): 3 on a three-node cluster; objects that exist keep theirs (env NOTEBRIDGE_JS_REPLICAS)")
	fs.DurationVar(&cfg.UsageRetention, "usage-retention", envDurationOr("NOTEBRIDGE_USAGE_RETENTION", usage.DefaultRetention), "how long a day's usage totals (GET /usage) are kept in JetStream (env NOTEBRIDGE_USAGE_RETENTION)")
	fs.IntVar(&cfg.MaxPerContract, "max-inflight-per-contract", envIntOr("NOTEBRIDGE_MAX_INFLIGHT_PER_CONTRACT", api.DefaultMaxInflightPerContract), "most calls of one contract version served at once; past it, 503 overloaded at once (env NOTEBRIDGE_MAX_INFLIGHT_PER_CONTRACT)")
	fs.StringVar(&cfg.CORSOrigins, "cors-origins", envOr("NOTEBRIDGE_CORS_ORIGINS", ""), "origins browser apps may call from, comma-separated (https://shop.example.com), or *; empty turns CORS off (env NOTEBRIDGE_CORS_ORIGINS)")
	natsFlags(fs, cfg, "nats-")
}
