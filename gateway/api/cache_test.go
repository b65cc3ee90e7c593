package api_test

import (
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/api"
	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/internal/contracttest"
	"github.com/notebridge/notebridge/gateway/internal/natstest"
	"github.com/notebridge/notebridge/gateway/internal/refworker"
	"github.com/notebridge/notebridge/gateway/replycache"
)

// cachedContracts writes lookup/v1, an echo contract whose replies may be
// cached for ttl seconds; maxLength changes its request schema, and so its
// digest.
func cachedContracts(t *testing.T, ttl, maxLength int) string {
	t.Helper()
	dir := t.TempDir()
	contracttest.Tree{
		"schemas/request.json": `{"type": "object", "required": ["text"], "properties": {
			"text": {"type": "string", "maxLength": ` + strconv.Itoa(maxLength) + `}, "n": {"type": "number"}}}`,
		"schemas/response.json": `{"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}, "n": {"type": "number"}}}`,
		"contracts/lookup.v1.json": `{"name": "lookup", "version": 1, "mode": "sync", "timeout_seconds": 2,
			"cache": {"ttl_seconds": ` + strconv.Itoa(ttl) + `},
			"request_schema": "../schemas/request.json", "response_schema": "../schemas/response.json",
			"examples": [{"name": "one", "request": {"text": "a"}}]}`,
	}.Write(t, dir)
	return filepath.Join(dir, "contracts")
}

// cachedGateway is a gateway on ns with a reply cache in js over
// lookup/v1, served by a reference worker that counts the requests it gets
// until stopWorker.
func cachedGateway(t *testing.T, ns *server.Server, js jetstream.JetStream, dir string) (g *gateway, received *atomic.Int64, stopWorker func()) {
	t.Helper()
	cache := replycache.New(js, 0, replycache.DefaultLocalBytes)
	g = buildGateway(t, ns, ns.ClientURL(), []string{dir}, func(cfg *api.Config) { cfg.Cache = cache })
	ct, err := g.reg.Lookup("lookup", 1)
	if err != nil {
		t.Fatal(err)
	}
	received = &atomic.Int64{}
	wc := natstest.Conn(t, ns)
	svc, err := refworker.Start(wc, []*contracts.Contract{ct}, refworker.WithReceived(func(string) { received.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	if err := wc.Flush(); err != nil { // the server has the worker's subscriptions
		t.Fatal(err)
	}
	stopWorker = func() { _ = svc.Stop(); _ = wc.Flush() }
	t.Cleanup(stopWorker)
	return g, received, stopWorker
}

func TestReplyCache(t *testing.T) {
	ns, _, js := natstest.JetStream(t)
	g, received, _ := cachedGateway(t, ns, js, cachedContracts(t, 60, 100))
	call := func(body string, headers ...string) response {
		t.Helper()
		return g.do(t, "POST", "/api/lookup/v1", body, append([]string{"Content-Type", jsonCT}, headers...)...)
	}
	tests := []struct {
		name, body  string
		headers     []string
		wantCache   string
		wantWorkers int64 // requests the worker has had after the call
	}{
		{"the first call is computed", `{"text": "hi", "n": 1}`, nil, "miss", 1},
		{"the same call is served from the cache", `{"text": "hi", "n": 1}`, nil, "hit", 1},
		{"an equal call spelled otherwise too", `{ "n": 1.0e0, "text": "h\u0069" }`, nil, "hit", 1},
		{"another call is computed", `{"text": "ho", "n": 1}`, nil, "miss", 2},
		{"no-cache asks the worker", `{"text": "hi", "n": 1}`, []string{"Cache-Control", "no-cache"}, "bypass", 3},
		{"no-store too", `{"text": "new", "n": 1}`, []string{"Cache-Control", "max-age=0, No-Store"}, "bypass", 4},
		{"and stores nothing", `{"text": "new", "n": 1}`, nil, "miss", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(tt.body, tt.headers...)
			if r.status != 200 {
				t.Fatalf("got %d %s; want 200", r.status, r.body)
			}
			if got := r.header.Get(api.HeaderCache); got != tt.wantCache {
				t.Errorf("%s = %q; want %q", api.HeaderCache, got, tt.wantCache)
			}
			if got := received.Load(); got != tt.wantWorkers {
				t.Errorf("the worker had %d requests; want %d", got, tt.wantWorkers)
			}
			if tt.wantCache == "hit" && r.header.Get("Age") == "" {
				t.Error("a hit has no Age header")
			}
		})
	}
	// The hit is the worker's first reply, byte for byte.
	if a, b := call(`{"text": "hi", "n": 1}`), call(`{"n": 1, "text": "hi"}`); string(a.body) != `{"text":"hi","n":1}` || string(b.body) != string(a.body) {
		t.Errorf("cached bodies %s and %s; want the worker's {\"text\":\"hi\",\"n\":1}", a.body, b.body)
	}
	// A failed call is not cached.
	if r := call(`{"text": 5}`); r.status != 422 || r.header.Get(api.HeaderCache) != "" {
		t.Errorf("an invalid request: got %d, %s %q; want 422 before the cache", r.status, api.HeaderCache, r.header.Get(api.HeaderCache))
	}
}

func TestReplyCacheForgetsAnOldDigestAndExpires(t *testing.T) {
	ns, _, js := natstest.JetStream(t)
	g, received, stopWorker := cachedGateway(t, ns, js, cachedContracts(t, 1, 100))
	body := `{"text": "hi"}`
	for i, want := range []string{"miss", "hit"} {
		if r := g.do(t, "POST", "/api/lookup/v1", body, "Content-Type", jsonCT); r.header.Get(api.HeaderCache) != want {
			t.Fatalf("call %d: %s = %q; want %q", i+1, api.HeaderCache, r.header.Get(api.HeaderCache), want)
		}
	}
	// Another gateway on the same bucket, whose contract's schemas changed: a
	// new digest, so the old entry is not its reply (the old worker goes,
	// or it would answer contract drift).
	stopWorker()
	g2, received2, _ := cachedGateway(t, ns, js, cachedContracts(t, 1, 50))
	if r := g2.do(t, "POST", "/api/lookup/v1", body, "Content-Type", jsonCT); r.status != 200 || r.header.Get(api.HeaderCache) != "miss" {
		t.Errorf("after a digest change: got %d, %s %q; want 200 miss", r.status, api.HeaderCache, r.header.Get(api.HeaderCache))
	}
	if received.Load()+received2.Load() != 2 {
		t.Errorf("the workers had %d requests; want 2", received.Load()+received2.Load())
	}
	// Past ttl_seconds the entry is not served.
	time.Sleep(1100 * time.Millisecond)
	if r := g2.do(t, "POST", "/api/lookup/v1", body, "Content-Type", jsonCT); r.header.Get(api.HeaderCache) != "miss" {
		t.Errorf("after the ttl: %s = %q; want miss", api.HeaderCache, r.header.Get(api.HeaderCache))
	}
}

func TestReplyCacheKeyIsCanonical(t *testing.T) {
	reg, err := contracts.Load(cachedContracts(t, 60, 100))
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := reg.Lookup("lookup", 1)
	a := replycache.Key(ct, []byte(`{"a": [1, 2.50], "b": "x"}`))
	b := replycache.Key(ct, []byte(`{"b":"\u0078","a":[1e0,25e-1]}`))
	c := replycache.Key(ct, []byte(`{"a": [1, 2.5000001], "b": "x"}`))
	if a != b || a == c {
		t.Errorf("keys %s, %s, %s; want the first two equal and the third not", a, b, c)
	}
}
