package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/api"
	"github.com/notebridge/notebridge/gateway/internal/jsplace"
	"github.com/notebridge/notebridge/gateway/internal/redact"
	"github.com/notebridge/notebridge/gateway/keys"
)

const keysUsage = `usage: notebridge keys <command> [flags]

commands:
  create  issue a key: -name and -contracts; prints the key, once
  list    every key: id, name, contracts, creation time (never a secret)
  revoke  revoke a key by id or name; every gateway refuses it within a moment

Keys live in the nb_keys bucket of NATS JetStream, which every gateway
replica watches. Run "notebridge keys <command> -h" for its flags.`

// keysTimeout bounds one keys command's work with NATS.
const keysTimeout = 10 * time.Second

// runKeys runs "notebridge keys create|list|revoke".
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, keysUsage)
		if len(args) == 0 {
			return errors.New("keys: missing command")
		}
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("notebridge keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats-url", envOr("NOTEBRIDGE_NATS_URL", ""), "NATS server `url` of the gateways, with the gateway's credentials (env NOTEBRIDGE_NATS_URL); empty: the embedded server's, from -data-dir's gateway.url, else nats://127.0.0.1:4222")
	dataDir := fs.String("data-dir", envOr("NOTEBRIDGE_DATA_DIR", ".notebridge/data"), "the embedded server's data directory, whose gateway.url -nats-url defaults to (env NOTEBRIDGE_DATA_DIR)")
	replicas := fs.Int("js-replicas", envIntOr("NOTEBRIDGE_JS_REPLICAS", 1), "replicas of the key bucket, should this command create it before any gateway did: the gateways' -js-replicas (env NOTEBRIDGE_JS_REPLICAS)")
	var name, grants string
	var rate float64
	var burst int
	var budgets budgetFlags
	var usageReader bool
	var tenant string
	switch args[0] {
	case "create":
		fs.StringVar(&name, "name", "", "who the key is for, unique: 1 to 64 of A-Z a-z 0-9 . _ -")
		fs.StringVar(&grants, "contracts", "", "what it may call, comma-separated: name (every version), name/vN, or * (everything)")
		fs.Float64Var(&rate, "rate", 0, "calls per second it may make on average, across every gateway replica; 0: no limit")
		fs.IntVar(&burst, "burst", 0, "calls it may make at once; 0: -rate rounded up")
		fs.Var(&budgets, "budget", "what it may spend per period, across every gateway replica: \"cost=5,per=day\", \"tokens=100000,per=month,contract=flowchart\" (per: hour, day, month, UTC); repeat for several")
		fs.BoolVar(&usageReader, "usage-reader", false, "it may read every key's usage at GET /usage (others read their own)")
		fs.StringVar(&tenant, "tenant", "", "the one tenant it may call tenant-scoped contracts for (manifest \"tenant\"); none: any")
	case "list", "revoke":
	default:
		fmt.Fprintln(stderr, keysUsage)
		return fmt.Errorf("keys: unknown command %q", args[0])
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *natsURL == "" {
		*natsURL = "nats://127.0.0.1:4222"
		if b, err := os.ReadFile(filepath.Join(*dataDir, gatewayURLFile)); err == nil {
			*natsURL = strings.TrimSpace(string(b))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, keysTimeout)
	defer cancel()
	nc, err := nats.Connect(*natsURL, nats.Name("notebridge keys"), nats.Timeout(keysTimeout))
	if err != nil {
		return fmt.Errorf("keys: connecting to %s: %w", redact.URLs(*natsURL), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	kv, err := keys.Bucket(ctx, jsplace.Replicated(js, *replicas))
	if err != nil {
		return fmt.Errorf("keys: the key bucket: %w", err)
	}
	switch args[0] {
	case "create":
		opts := []keys.Option{keys.WithRate(rate, burst)}
		for _, b := range budgets {
			opts = append(opts, keys.WithBudget(b))
		}
		if usageReader {
			opts = append(opts, keys.WithUsageReader())
		}
		if tenant != "" {
			opts = append(opts, keys.WithTenant(tenant))
		}
		k, token, err := keys.Create(ctx, kv, name, splitDirs(grants), opts...)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "key %s (%s) may call %s. It is shown this once: keep it secret.\n", k.ID, k.Name, strings.Join(k.Contracts, ", "))
		fmt.Fprintln(stdout, token)
	case "list":
		all, err := keys.List(ctx, kv)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCONTRACTS\tRATE\tBUDGETS\tTENANT\tCREATED")
		for _, k := range all {
			rate := "-"
			if k.Rate > 0 {
				rate = fmt.Sprintf("%v/s burst %d", k.Rate, k.Burst)
			}
			budgets := "-"
			if len(k.Budgets) > 0 {
				var each []string
				for _, b := range k.Budgets {
					each = append(each, b.String())
				}
				budgets = strings.Join(each, "; ")
			}
			tenant := "-"
			if k.Tenant != "" {
				tenant = k.Tenant
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, strings.Join(k.Contracts, ","), rate, budgets, tenant, k.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	case "revoke":
		if fs.NArg() != 1 {
			return errors.New("keys revoke: name the key to revoke, by id or name")
		}
		k, err := keys.Revoke(ctx, kv, fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked key %s (%s)\n", k.ID, k.Name)
	}
	return nil
}

// budgetFlags are the -budget flags of keys create.
type budgetFlags []keys.Budget

func (f *budgetFlags) String() string { return fmt.Sprint(*f) }

func (f *budgetFlags) Set(s string) error {
	b, err := keys.ParseBudget(s)
	if err != nil {
		return err
	}
	*f = append(*f, b)
	return nil
}

// watchKeys starts following the API keys when -auth is keys; with none,
// it says loudly that the gateway admits anyone. It returns the keys
// and their rate limiter.
func watchKeys(ctx context.Context, js jetstream.JetStream, auth string, log *slog.Logger) (api.Authenticator, api.RateLimiter, error) {
	if auth == authNone {
		log.Warn("AUTHENTICATION IS OFF (-auth none): any client may call any contract and read any job; " +
			"never expose this gateway beyond your machine. Run with -auth keys (the default) and `notebridge keys create`.")
		return nil, nil, nil
	}
	log.Info("API keys required on calls and job routes (-auth keys)", "bucket", "nb_keys")
	return keys.Watch(ctx, js, log), keys.NewLimiter(js), nil
}
