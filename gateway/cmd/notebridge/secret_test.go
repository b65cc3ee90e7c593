package main

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"
)

// token is the NATS token of these tests: it must never be printed.
const token = "s3cr3t-t0ken"

func TestHelpNeverShowsSecrets(t *testing.T) {
	t.Setenv("NOTEBRIDGE_NATS_URL", "nats://"+token+"@nats.example.com:4222")
	t.Setenv("NOTEBRIDGE_WEBHOOK_SECRET", token)
	t.Setenv("NOTEBRIDGE_NATS_PASSWORD", token)
	t.Setenv("NOTEBRIDGE_NATS_TOKEN", token)
	tests := []struct {
		name  string
		flags func(*flag.FlagSet, *config)
		want  string // how -h shows a default
		value func(config) string
	}{
		{"serve", serveFlags, "(default nats://REDACTED@nats.example.com:4222)", func(c config) string { return c.NATSURL }},
		{"nats", func(fs *flag.FlagSet, cfg *config) { natsFlags(fs, cfg, ""); natsAuthFlags(fs, cfg) }, "(default REDACTED)",
			func(c config) string { return c.NATSToken }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg config
			fs := flag.NewFlagSet(tt.name, flag.ContinueOnError)
			tt.flags(fs, &cfg)
			var out bytes.Buffer
			fs.SetOutput(&out)
			fs.PrintDefaults()
			if strings.Contains(out.String(), token) {
				t.Errorf("-h shows a secret:\n%s", out.String())
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("-h does not show %q:\n%s", tt.want, out.String())
			}
			if err := fs.Parse(nil); err != nil {
				t.Fatal(err)
			}
			if got := tt.value(cfg); !strings.Contains(got, token) {
				t.Errorf("the flag holds %q; want the environment's value, unredacted", got)
			}
		})
	}
}

func TestContractsTestNeverShowsTheNATSCredentials(t *testing.T) {
	t.Setenv("NOTEBRIDGE_NATS_URL", "nats://"+token+"@127.0.0.1:4222")
	tests := []struct {
		name string
		args []string
	}{
		{"help", []string{"test", "-h"}},
		{"URL that does not parse", []string{"test", "-contracts-dir", "../../../testdata/contracts", "-nats", "nats://alice:" + token + "@127.0.0.1:port"}},
		{"server down", []string{"test", "-contracts-dir", "../../../testdata/contracts", "-nats", "nats://" + token + "@127.0.0.1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runContracts(context.Background(), tt.args, &stdout, &stderr)
			if err == nil {
				t.Fatal("got no error")
			}
			if out := err.Error() + stdout.String() + stderr.String(); strings.Contains(out, token) {
				t.Errorf("the output shows the credentials:\n%s", out)
			}
		})
	}
}
