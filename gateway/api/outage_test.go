package api_test

import (
	"bufio"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/notebridge/notebridge/gateway/embedded"
	"github.com/notebridge/notebridge/gateway/internal/contracttest"
	"github.com/notebridge/notebridge/gateway/internal/natstest"
	"github.com/notebridge/notebridge/gateway/internal/refworker"
)

// promptly bounds how long an answer about a NATS outage may take: far
// below the deadlines of outageContracts, which a gateway that waited
// for the deadline would reach.
const promptly = 2 * time.Second

// outageContracts writes contracts with long deadlines, so that an answer
// that comes at once is told apart from one that waits for the deadline:
// slow/v1 (sync, served with echo semantics) and long/v1 (stream, its
// chunks can be merged).
func outageContracts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"schemas/slow.request.json": `{"type": "object", "required": ["text"], "properties": {
			"text": {"type": "string"}, "sleep_ms": {"type": "integer", "minimum": 0}}}`,
		"schemas/slow.response.json": `{"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}`,
		"schemas/long.request.json": `{"type": "object", "required": ["text"], "additionalProperties": false, "properties": {
			"text": {"type": "string"}, "delay_ms": {"type": "integer", "minimum": 0},
			"behavior": {"enum": ["fail_first"]}}}`,
		"schemas/long.chunk.json": `{"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}`,
		"contracts/slow.v1.json": `{"name": "slow", "version": 1, "description": "echo, slowly", "mode": "sync",
			"timeout_seconds": 30, "request_schema": "../schemas/slow.request.json", "response_schema": "../schemas/slow.response.json",
			"examples": [{"name": "hi", "request": {"text": "hi"}, "response": {"text": "hi"}}]}`,
		"contracts/long.v1.json": `{"name": "long", "version": 1, "description": "words, slowly", "mode": "stream",
			"timeout_seconds": 30, "idle_timeout_seconds": 3, "request_schema": "../schemas/long.request.json",
			"chunk_schema": "../schemas/long.chunk.json", "response_schema": "../schemas/long.chunk.json", "merge": {"concat": "text"},
			"examples": [{"name": "two words", "request": {"text": "a b"}, "response": {"text": "a b "}}]}`,
	}
	contracttest.Tree(files).Write(t, dir)
	return filepath.Join(dir, "contracts")
}

// stopNATS stops the gateway's NATS server, waits until the gateway's
// connection has noticed, and returns the port to restart it on.
func (g *gateway) stopNATS(t *testing.T) int {
	t.Helper()
	port := g.ns.Addr().(*net.TCPAddr).Port
	g.ns.Shutdown()
	g.ns.WaitForShutdown()
	eventually(t, "the gateway to notice NATS is down", func() bool { return !g.nc.IsConnected() })
	return port
}

// startNATS starts a NATS server on port again, with dataDir for
// JetStream ("" for none), and waits until the gateway has reconnected.
// The gateway's cleanup stops it.
func (g *gateway) startNATS(t *testing.T, port int, dataDir string) {
	t.Helper()
	ns, err := embedded.Start(embedded.Config{Port: port, DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	g.ns = ns
	eventually(t, "the gateway to reconnect to NATS", g.nc.IsConnected)
}

// eventually polls cond for at most 20 seconds: a bound on a hang, not a
// timing assertion.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// brokerUnavailable checks that r is the prompt answer to a call made
// during an outage: 503 broker-unavailable with Retry-After.
func brokerUnavailable(t *testing.T, r response, took time.Duration) {
	t.Helper()
	if r.status != 503 {
		t.Fatalf("got %d after %s; want 503 (body %s)", r.status, took.Round(time.Millisecond), r.body)
	}
	if p := r.problem(t); p["type"] != "urn:notebridge:problem:broker-unavailable" {
		t.Errorf("type = %v; want broker-unavailable", p["type"])
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After on a 503")
	}
	if took > promptly {
		t.Errorf("answered after %s; want within %s, long before the deadline", took.Round(time.Millisecond), promptly)
	}
}

func TestNATSOutageAnswersAtOnce(t *testing.T) {
	t.Parallel()
	g := newGatewayWith(t, outageContracts(t))
	g.serve(t, "slow", []int{1})
	g.serve(t, "long", []int{1})
	calls := []struct {
		name, path, body, accept string
	}{
		{"sync", "/api/slow/v1", `{"text": "a"}`, ""},
		{"stream", "/api/long/v1", `{"text": "a b"}`, ""},
		{"stream merged", "/api/long/v1", `{"text": "a b"}`, jsonCT},
	}
	port := g.stopNATS(t)
	for _, c := range calls {
		t.Run("down/"+c.name, func(t *testing.T) {
			start := time.Now()
			r := g.do(t, "POST", c.path, c.body, "Content-Type", jsonCT, "Accept", c.accept, "Request-Timeout", "8")
			brokerUnavailable(t, r, time.Since(start))
		})
	}
	g.startNATS(t, port, "")
	for _, c := range calls {
		t.Run("back/"+c.name, func(t *testing.T) {
			// The workers reconnect on their own schedule: until they do,
			// the answer is no-worker.
			var r response
			eventually(t, "a worker to answer", func() bool {
				r = g.do(t, "POST", c.path, c.body, "Content-Type", jsonCT, "Accept", c.accept)
				return r.status != 503
			})
			if r.status != 200 {
				t.Fatalf("got %d; want 200 (body %s)", r.status, r.body)
			}
		})
	}
}

func TestNATSDropAnswersCallsInFlight(t *testing.T) {
	t.Parallel()
	t.Run("sync", func(t *testing.T) {
		t.Parallel()
		g := newGatewayWith(t, outageContracts(t))
		received := make(chan string, 1)
		g.serve(t, "slow", []int{1}, refworker.WithReceived(func(id string) { received <- id }))
		base := g.listen(t)
		answer := make(chan response, 1)
		go func() {
			answer <- httpDo(t, "POST", base+"/api/slow/v1", `{"text": "a", "sleep_ms": 20000}`, "Content-Type", jsonCT, "Request-Timeout", "10")
		}()
		<-received
		start := time.Now()
		g.stopNATS(t)
		brokerUnavailable(t, <-answer, time.Since(start))
	})
	t.Run("stream merged", func(t *testing.T) {
		t.Parallel()
		g := newGatewayWith(t, outageContracts(t))
		sent := make(chan string, 16)
		g.serve(t, "long", []int{1}, refworker.WithSent(func(kind string) { sent <- kind }))
		base := g.listen(t)
		answer := make(chan response, 1)
		go func() {
			answer <- httpDo(t, "POST", base+"/api/long/v1", `{"text": "a b c d e f", "delay_ms": 5000}`,
				"Content-Type", jsonCT, "Accept", jsonCT)
		}()
		if kind := <-sent; kind != "chunk" {
			t.Fatalf("the worker sent %s first; want a chunk", kind)
		}
		start := time.Now()
		g.stopNATS(t)
		brokerUnavailable(t, <-answer, time.Since(start))
	})
	t.Run("stream after the first chunk", func(t *testing.T) {
		t.Parallel()
		g := newGatewayWith(t, outageContracts(t))
		g.serve(t, "long", []int{1})
		base := g.listen(t)
		resp := openSSE(t, base+"/api/long/v1", `{"text": "a b c d e f", "delay_ms": 5000}`)
		r := bufio.NewReader(resp.Body)
		if ev := readEvent(t, r); ev.name != "chunk" {
			t.Fatalf("first event = %+v; want a chunk", ev)
		}
		start := time.Now()
		g.stopNATS(t)
		ev := readEvent(t, r)
		took := time.Since(start)
		var p map[string]any
		_ = json.Unmarshal([]byte(ev.data), &p)
		if ev.name != "error" || p["type"] != "urn:notebridge:problem:broker-unavailable" {
			t.Fatalf("event after %s = %+v; want an error event of type broker-unavailable", took.Round(time.Millisecond), ev)
		}
		if took > promptly {
			t.Errorf("the error event came after %s; want within %s", took.Round(time.Millisecond), promptly)
		}
	})
}

func TestReadyzNeverShowsCredentials(t *testing.T) {
	t.Parallel()
	const token = "s3cr3t-t0ken"
	ns := natstest.Server(t, embedded.Config{Token: token})
	g := newGatewayOn(t, ns, strings.Replace(ns.ClientURL(), "nats://", "nats://"+token+"@", 1), "../../testdata/contracts")
	r := g.do(t, "GET", "/readyz", "")
	if r.status != 200 {
		t.Fatalf("got %d; want 200 (body %s)", r.status, r.body)
	}
	if strings.Contains(string(r.body), token) {
		t.Errorf("/readyz = %s; shows the token", r.body)
	}
	var ready struct{ NATS string }
	if err := json.Unmarshal(r.body, &ready); err != nil || !strings.Contains(ready.NATS, ns.Addr().String()) {
		t.Errorf("nats = %q (%v); want the server's address, %s", ready.NATS, err, ns.Addr())
	}
}
