package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/embedded"
	"github.com/notebridge/notebridge/gateway/internal/natstest"
	"github.com/notebridge/notebridge/gateway/wire"
)

// keysCmd runs "notebridge keys args..." and returns its stdout and stderr.
func keysCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := runKeys(context.Background(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// The operator's path: a gateway that requires keys, a key issued with the
// CLI, calls with and without it, the key revoked.
func TestKeysFromTheCommandLine(t *testing.T) {
	t.Parallel()
	ns := natstest.Server(t, embedded.Config{Port: -1, DataDir: t.TempDir()})
	natsURL := ns.ClientURL()
	p := startGateway(t, "-auth", "keys", "-nats-url", natsURL, "-contracts-dir", "../../../testdata/contracts")
	base := p.listening(t)

	token, notice, err := keysCmd(t, "create", "-nats-url", natsURL, "-name", "shop", "-contracts", "echo")
	if err != nil {
		t.Fatalf("keys create: %v\n%s", err, notice)
	}
	token = strings.TrimSpace(token)
	if !strings.HasPrefix(token, "nb_") || !strings.Contains(notice, "shown this once") {
		t.Errorf("keys create printed %q (stderr %q); want the key on stdout and a warning to keep it", token, notice)
	}
	// A worker-less call gets past the key check: 503 no-worker, not 401.
	deadline := time.Now().Add(10 * time.Second)
	for r := callWithKey(t, "POST", base+"/api/echo/v1", token, `{"text": "hi"}`); r.status == 401; r = callWithKey(t, "POST", base+"/api/echo/v1", token, `{"text": "hi"}`) {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway still refuses the new key after 10 s: %s", r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := callWithKey(t, "POST", base+"/api/echo/v1", "", `{"text": "hi"}`); r.status != 401 {
		t.Errorf("a call without a key: got %d %s; want 401", r.status, r.body)
	}

	listed, _, err := keysCmd(t, "list", "-nats-url", natsURL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(listed, "shop") || strings.Contains(listed, token[len(token)-43:]) {
		t.Errorf("keys list printed:\n%s\nwant the key's name and never its secret", listed)
	}
	if _, _, err := keysCmd(t, "revoke", "-nats-url", natsURL, "shop"); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for r := callWithKey(t, "POST", base+"/api/echo/v1", token, `{"text": "hi"}`); r.status != 401; r = callWithKey(t, "POST", base+"/api/echo/v1", token, `{"text": "hi"}`) {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway still admits the revoked key after 10 s: %d %s", r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if log := p.log(); strings.Contains(log, token[len(token)-43:]) {
		t.Errorf("the gateway's log holds the key's secret:\n%s", log)
	}
}

func TestKeysCommandFailures(t *testing.T) {
	t.Parallel()
	ns := natstest.Server(t, embedded.Config{Port: -1, DataDir: t.TempDir()})
	url := ns.ClientURL()
	tests := []struct {
		name string
		args []string
	}{
		{"no command", nil},
		{"unknown command", []string{"rotate"}},
		{"create without a name", []string{"create", "-nats-url", url, "-contracts", "*"}},
		{"create without contracts", []string{"create", "-nats-url", url, "-name", "x"}},
		{"a budget without a period", []string{"create", "-nats-url", url, "-name", "x", "-contracts", "*", "-budget", "cost=5"}},
		{"a budget of nothing", []string{"create", "-nats-url", url, "-name", "x", "-contracts", "*", "-budget", "per=day"}},
		{"revoke without a key", []string{"revoke", "-nats-url", url}},
		{"revoke an unknown key", []string{"revoke", "-nats-url", url, "nobody"}},
		{"NATS down", []string{"list", "-nats-url", "nats://127.0.0.1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := keysCmd(t, tt.args...)
			if err == nil || errors.Is(err, flag.ErrHelp) {
				t.Errorf("got %v; want an error", err)
			}
			if stdout != "" {
				t.Errorf("printed %q on stdout; want nothing", stdout)
			}
		})
	}
}

// Without keys, the gateway says so at start, loudly.
func TestServeWithoutKeysWarns(t *testing.T) {
	t.Parallel()
	p := startGateway(t, "-nats-port", "0", "-data-dir", t.TempDir(), "-contracts-dir", "../../../testdata/contracts")
	p.listening(t)
	if log := p.log(); !strings.Contains(log, "AUTHENTICATION IS OFF") || !strings.Contains(log, `"level":"WARN"`) {
		t.Errorf("the log of a gateway with -auth none:\n%s\nwant a warning that authentication is off", log)
	}
}

// A key's rate holds across two gateway processes on one NATS: its burst
// is spent once, whichever replica serves each call.
func TestRateLimitAcrossGatewayProcesses(t *testing.T) {
	t.Parallel()
	ns := natstest.Server(t, embedded.Config{Port: -1, DataDir: t.TempDir()})
	natsURL := ns.ClientURL()
	var bases []string
	for range 2 {
		p := startGateway(t, "-auth", "keys", "-nats-url", natsURL, "-contracts-dir", "../../../testdata/contracts")
		bases = append(bases, p.listening(t))
	}
	// Three calls at once, then one every 100 s: nothing refills during the test.
	token, _, err := keysCmd(t, "create", "-nats-url", natsURL, "-name", "limited", "-contracts", "*", "-rate", "0.01", "-burst", "3")
	if err != nil {
		t.Fatal(err)
	}
	token = strings.TrimSpace(token)
	// A key without a rate, issued after it: once a replica admits this
	// one, its watch has seen the limited key too (updates come in order).
	probe, _, err := keysCmd(t, "create", "-nats-url", natsURL, "-name", "probe", "-contracts", "*")
	if err != nil {
		t.Fatal(err)
	}
	probe = strings.TrimSpace(probe)
	for _, base := range bases {
		deadline := time.Now().Add(10 * time.Second)
		for callWithKey(t, "POST", base+"/api/echo/v1", probe, `{"text": "hi"}`).status == 401 {
			if time.Now().After(deadline) {
				t.Fatal("a replica does not admit a new key after 10 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	statuses := map[int]int{}
	var limited answer
	for i := range 8 {
		r := callWithKey(t, "POST", bases[i%2]+"/api/echo/v1", token, `{"text": "hi"}`)
		statuses[r.status]++
		if r.status == 429 {
			limited = r
		}
	}
	// No worker serves echo: an admitted call is 503 no-worker, a refused one 429.
	if statuses[503] != 3 || statuses[429] != 5 {
		t.Errorf("statuses %v; want 3 admitted (503 no-worker) and 5 refused (429)", statuses)
	}
	if !strings.Contains(limited.body, "rate-limited") {
		t.Errorf("a refusal: %s; want a rate-limited problem", limited.body)
	}
}

// On a cluster, a key bucket the CLI creates first has the gateways'
// replicas.
func TestKeysCreatesItsBucketWithTheGatewaysReplicas(t *testing.T) {
	t.Parallel()
	servers := natstest.Cluster(t, 3)
	url := natstest.ClusterURL(servers)
	if _, _, err := keysCmd(t, "create", "-nats-url", url, "-js-replicas", "3", "-name", "ops", "-contracts", "*"); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(context.Background(), "KV_"+wire.KeyBucket)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config.Replicas; got != 3 {
		t.Errorf("the key bucket has %d replicas; want 3", got)
	}
}
