package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/notebridge/notebridge/gateway/wire"
)

// joinAs connects to the locked embedded server with the URL in file
// ("" for none), recording the permission violations the server reports.
func joinAs(t *testing.T, url string) (*nats.Conn, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var violations []string
	nc, err := nats.Connect(url, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		defer mu.Unlock()
		violations = append(violations, err.Error())
	}))
	if err != nil {
		t.Fatalf("connecting with the %s URL: %v", url[:strings.Index(url, ":")], err)
	}
	t.Cleanup(nc.Close)
	return nc, func() []string {
		_ = nc.Flush()
		time.Sleep(100 * time.Millisecond) // the server's -ERR comes after the flush's PONG at worst
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), violations...)
	}
}

// A locked bus (the default): anonymous clients are refused, and a client
// with the workers' credentials cannot read requests or replies meant for
// others, call contracts, forge replies, or touch the job stream; with the
// gateway's, the operator's tools work.
func TestEmbeddedBusIsLocked(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	p := startGateway(t, "-nats-auth", "locked", "-nats-port", "0", "-data-dir", dataDir,
		"-contracts-dir", "../../../testdata/contracts,"+jobContract(t))
	p.listening(t)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		info, _ := os.Stat(filepath.Join(dataDir, name))
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v; want 0600", name, info.Mode().Perm())
		}
		return strings.TrimSpace(string(b))
	}
	gatewayURL, workerURL := read(gatewayURLFile), read(workerURLFile)
	read(credentialsFile)
	anonymous := "nats://" + gatewayURL[strings.LastIndex(gatewayURL, "@")+1:]

	if _, err := nats.Connect(anonymous); err == nil || !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Errorf("an anonymous client: got %v; want an authorization error", err)
	}

	worker, violations := joinAs(t, workerURL)
	// Allowed: what a worker does.
	for _, subject := range []string{"nb.echo.v1", "$SRV.PING", "nb.cancel.job.x", wire.WorkerInboxPrefix + ".x"} {
		if _, err := worker.SubscribeSync(subject); err != nil {
			t.Fatal(err)
		}
	}
	if v := violations(); len(v) != 0 {
		t.Fatalf("a worker's own subscriptions were refused: %v", v)
	}
	// Refused: reading everything, or the gateway's inboxes; calling a contract; replying
	// to what it did not receive; deleting the job stream.
	tests := []struct {
		name string
		do   func() error
	}{
		{"subscribe >", func() error { _, err := worker.SubscribeSync(">"); return err }},
		{"subscribe the gateway's inboxes", func() error { _, err := worker.SubscribeSync("_INBOX.>"); return err }},
		{"call a contract", func() error { return worker.Publish("nb.echo.v1", []byte(`{"text": "x"}`)) }},
		{"forge a reply", func() error { return worker.Publish("_INBOX.abc.def", []byte(`{"text": "forged"}`)) }},
		{"submit a job", func() error { return worker.Publish(wire.JobSubject("later", 1), []byte(`{}`)) }},
		{"delete the job stream", func() error { return worker.Publish("$JS.API.STREAM.DELETE."+wire.JobStream, nil) }},
		{"read the API keys", func() error {
			return worker.Publish("$JS.API.DIRECT.GET.KV_"+wire.KeyBucket+".$KV."+wire.KeyBucket+".key.x", nil)
		}},
		{"look at the key bucket", func() error { return worker.Publish("$JS.API.STREAM.INFO.KV_"+wire.KeyBucket, nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(violations())
			if err := tt.do(); err != nil {
				return // refused at once
			}
			if v := violations(); len(v) == before || !strings.Contains(strings.ToLower(strings.Join(v[before:], " ")), "permissions violation") {
				t.Errorf("got no permissions violation; want one (all so far: %v)", v)
			}
		})
	}

	// The gateway's URL is the operator's: keys are managed with it, from the data directory.
	stdout, _, err := keysCmd(t, "create", "-data-dir", dataDir, "-name", "ops", "-contracts", "*")
	if err != nil || !strings.HasPrefix(stdout, "nb_") {
		t.Errorf("keys create with the data directory's gateway URL: %q, %v", stdout, err)
	}
}

// Passwords given by flag (or environment) are the ones the server wants.
func TestEmbeddedBusWithGivenPasswords(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	p := startGateway(t, "-nats-port", "0", "-data-dir", dataDir, "-contracts-dir", "../../../testdata/contracts",
		"-nats-gateway-password", "gw-secret-1", "-nats-worker-password", "wk-secret-2")
	p.listening(t)
	workerURL, err := os.ReadFile(filepath.Join(dataDir, workerURLFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(workerURL), "worker:wk-secret-2@") {
		t.Errorf("worker.url = %q; want the given password", workerURL)
	}
	if _, err := nats.Connect(strings.TrimSpace(strings.Replace(string(workerURL), "wk-secret-2", "wrong", 1))); err == nil {
		t.Error("a wrong worker password was admitted")
	}
	if log := p.log(); strings.Contains(log, "gw-secret-1") || strings.Contains(log, "wk-secret-2") {
		t.Errorf("the log shows a password:\n%s", log)
	}
}
