package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/notebridge/notebridge/gateway/api"
)

// listen serves the app on a real loopback socket, as the command does.
func (g *gateway) listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.app.Listener(api.LingeringListener(ln, api.DefaultLinger)) }()
	t.Cleanup(func() { _ = g.app.Shutdown() })
	return "http://" + ln.Addr().String()
}

func httpDo(t *testing.T, method, url, body string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return readResponse(t, resp)
}

func TestServerOverSocket(t *testing.T) {
	g := newGateway(t)
	g.serveEcho(t, []int{1})
	base := g.listen(t)

	t.Run("success", func(t *testing.T) {
		r := httpDo(t, "POST", base+"/api/echo/v1", `{"text": "over tcp"}`, "Content-Type", jsonCT)
		if r.status != 200 || string(r.body) != `{"text":"over tcp"}` {
			t.Fatalf("got %d %s; want 200 {\"text\":\"over tcp\"}", r.status, r.body)
		}
	})
	t.Run("body over the limit", func(t *testing.T) {
		r := httpDo(t, "POST", base+"/api/echo/v1", `{"text": "`+strings.Repeat("a", testBodyLimit)+`"}`, "Content-Type", jsonCT, "X-Request-Id", "big-1")
		if r.status != 413 {
			t.Fatalf("got %d; want 413 (body %s)", r.status, r.body)
		}
		p := r.problem(t)
		if p["type"] != "urn:notebridge:problem:body-too-large" || p["request_id"] != "big-1" {
			t.Errorf("type, request_id = %v, %v; want body-too-large, big-1", p["type"], p["request_id"])
		}
	})
	t.Run("422 over socket", func(t *testing.T) {
		r := httpDo(t, "POST", base+"/api/echo/v1", `{}`, "Content-Type", jsonCT)
		if r.status != 422 {
			t.Fatalf("got %d; want 422", r.status)
		}
	})
}

// lockedBuffer is a log destination the server writes and a test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// take returns what was written since the last take.
func (b *lockedBuffer) take() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := bytes.Clone(b.buf.Bytes())
	b.buf.Reset()
	return out
}

// TestAccessLog pins the access log line, which operators parse: one per
// request at info, with these attributes and no others, errors included.
func TestAccessLog(t *testing.T) {
	g := newGateway(t)
	g.serveEcho(t, []int{1})
	var out lockedBuffer
	app, err := api.New(api.Config{Registry: g.reg, Conn: g.nc, Logger: slog.New(slog.NewJSONHandler(&out, nil))})
	if err != nil {
		t.Fatal(err)
	}
	g.app = app
	tests := []struct {
		method, path, body, contentType string
		status                          int
		contract                        string // the call's, for calls admitted
	}{
		{"POST", "/api/echo/v1", `{"text": "hi"}`, jsonCT, 200, "echo/v1"},
		{"POST", "/api/echo", `{"text": "hi"}`, jsonCT, 200, "echo/v1"},
		{"POST", "/api/echo/v1", `{"text": `, jsonCT, 400, ""},
		{"POST", "/api/echo/v1", `{"text": 1}`, jsonCT, 422, ""},
		{"POST", "/api/echo/v1", `{"text": "hi"}`, "text/plain", 415, ""},
		{"DELETE", "/api/echo/v1", "", "", 405, ""},
		{"GET", "/nowhere", "", "", 404, ""},
		{"GET", "/healthz", "", "", 200, ""},
	}
	for i, tt := range tests {
		id := fmt.Sprintf("log-%d", i)
		r := g.do(t, tt.method, tt.path, tt.body, "Content-Type", tt.contentType, "X-Request-Id", id)
		if r.status != tt.status {
			t.Fatalf("%s %s: status %d; want %d (body %s)", tt.method, tt.path, r.status, tt.status, r.body)
		}
		var line map[string]any
		if err := json.Unmarshal(out.take(), &line); err != nil {
			t.Fatalf("%s %s: want one JSON log line: %v", tt.method, tt.path, err)
		}
		keys := make([]string, 0, len(line))
		for k := range line {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		wantKeys := []string{"duration_ms", "level", "method", "msg", "path", "request_id", "status", "time"}
		if tt.contract != "" {
			wantKeys = append([]string{"contract"}, wantKeys...)
		}
		if !reflect.DeepEqual(keys, wantKeys) {
			t.Errorf("%s %s: attributes %v; want %v", tt.method, tt.path, keys, wantKeys)
		}
		want := map[string]any{"level": "INFO", "msg": "request", "request_id": id, "method": tt.method, "path": tt.path, "status": float64(tt.status)}
		if tt.contract != "" {
			want["contract"] = tt.contract
		}
		for k, v := range want {
			if line[k] != v {
				t.Errorf("%s %s: %s = %v; want %v", tt.method, tt.path, k, line[k], v)
			}
		}
		if d, ok := line["duration_ms"].(float64); !ok || d < 0 {
			t.Errorf("%s %s: duration_ms = %v; want a number of milliseconds", tt.method, tt.path, line["duration_ms"])
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	g := newGateway(t)
	if r := g.do(t, "GET", "/healthz", ""); r.status != 200 {
		t.Fatalf("healthz: got %d; want 200", r.status)
	}
	if r := g.do(t, "GET", "/readyz", ""); r.status != 200 {
		t.Fatalf("readyz: got %d; want 200 (body %s)", r.status, r.body)
	}
	if r := g.do(t, "POST", "/healthz", ""); r.status != 405 || r.header.Get("Allow") != "GET" {
		t.Fatalf("POST healthz: got %d Allow %q; want 405 Allow GET", r.status, r.header.Get("Allow"))
	}
	g.ns.Shutdown()
	g.ns.WaitForShutdown()
	for i := 0; i < 100 && g.nc.IsConnected(); i++ { // the client notices the lost socket asynchronously
		time.Sleep(20 * time.Millisecond)
	}
	r := g.do(t, "GET", "/readyz", "")
	if r.status != 503 {
		t.Fatalf("readyz with NATS down: got %d; want 503", r.status)
	}
	if p := r.problem(t); p["type"] != "urn:notebridge:problem:broker-unavailable" {
		t.Errorf("type = %v; want broker-unavailable", p["type"])
	}
}

func TestCatalog(t *testing.T) {
	g := newGateway(t)
	g.serveEcho(t, []int{1})
	g.serveEcho(t, []int{1}) // a second worker process for v1
	r := g.do(t, "GET", "/api", "")
	if r.status != 200 {
		t.Fatalf("got %d; want 200", r.status)
	}
	var cat struct {
		Contracts []struct {
			Name     string `json:"name"`
			Latest   int    `json:"latest"`
			Versions []struct {
				Version        int    `json:"version"`
				Workers        int    `json:"workers"`
				DriftedWorkers int    `json:"drifted_workers"`
				Deprecated     bool   `json:"deprecated"`
				Href           string `json:"href"`
			} `json:"versions"`
		} `json:"contracts"`
	}
	if err := json.Unmarshal(r.body, &cat); err != nil {
		t.Fatal(err)
	}
	// testdata/contracts: echo, then tokens (a stream contract, unserved here).
	if len(cat.Contracts) != 2 || cat.Contracts[0].Name != "echo" || cat.Contracts[0].Latest != 1 {
		t.Fatalf("catalog = %s; want echo with latest 1, then tokens", r.body)
	}
	vs := cat.Contracts[0].Versions
	if len(vs) != 2 || vs[0].Workers != 2 || vs[1].Workers != 0 || !vs[1].Deprecated || vs[0].Href != "/api/echo/v1" {
		t.Errorf("versions = %+v; want v1 with 2 workers, deprecated v2 with 0", vs)
	}
}

func TestDescribe(t *testing.T) {
	g := newGateway(t)
	r := g.do(t, "GET", "/api/echo/v1", "")
	if r.status != 200 {
		t.Fatalf("got %d; want 200", r.status)
	}
	var d struct {
		Name          string                     `json:"name"`
		Digest        string                     `json:"digest"`
		RequestSchema string                     `json:"request_schema"`
		Schemas       map[string]json.RawMessage `json:"schemas"`
		Examples      []json.RawMessage          `json:"examples"`
	}
	if err := json.Unmarshal(r.body, &d); err != nil {
		t.Fatal(err)
	}
	if d.Name != "echo" || !strings.HasPrefix(d.Digest, "sha256:") || len(d.Examples) != 2 {
		t.Errorf("got %s; want echo with a digest and 2 examples", r.body)
	}
	for _, file := range []string{d.RequestSchema, "../schemas/defs.json"} {
		if _, ok := d.Schemas[file]; !ok {
			t.Errorf("schemas lack %s (have %v)", file, slices.Sorted(maps.Keys(d.Schemas)))
		}
	}
	if r := g.do(t, "GET", "/api/echo/v7", ""); r.status != 404 {
		t.Errorf("GET /api/echo/v7: got %d; want 404", r.status)
	}
}
