package main

import (
	"errors"
	"flag"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/notebridge/notebridge/gateway/jobs"
)

func TestJobFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		ttl     time.Duration
		wantErr string
	}{
		{"defaults", nil, nil, 24 * time.Hour, ""},
		{"flags", []string{"-job-ttl", "90m", "-webhook-allow", "127.0.0.1:9000", "-webhook-secret", "s"}, nil, 90 * time.Minute, ""},
		{"environment", nil, map[string]string{"NOTEBRIDGE_JOB_TTL": "2h", "NOTEBRIDGE_WEBHOOK_ALLOW": "hooks.example.com", "NOTEBRIDGE_WEBHOOK_SECRET": "s"}, 2 * time.Hour, ""},
		{"allow-list without a secret", []string{"-webhook-allow", "hooks.example.com"}, nil, 0, "no secret"},
		{"allow-list entry with a scheme", []string{"-webhook-allow", "https://hooks.example.com", "-webhook-secret", "s"}, nil, 0, "-webhook-allow"},
		{"zero TTL", []string{"-job-ttl", "0s"}, nil, 0, "-job-ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var cfg config
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			serveFlags(fs, &cfg)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			jc, err := jobsConfig(cfg, slog.Default())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v; want an error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if jc.TTL != tt.ttl {
				t.Errorf("TTL = %s; want %s", jc.TTL, tt.ttl)
			}
		})
	}
	if _, err := jobsConfig(config{JobTTL: time.Hour, WebhookAllow: "x.com"}, slog.Default()); !errors.Is(err, jobs.ErrInvalidConfig) {
		t.Errorf("got %v; want ErrInvalidConfig", err)
	}
}
