package api_test

import (
	"encoding/json"
	"testing"
)

// TestUnknownMethod: a method Fiber does not know is answered like every
// other error: problem+json with a request id, 405 with Allow on a path
// the gateway serves, 501 elsewhere, and an access log line.
func TestUnknownMethod(t *testing.T) {
	g := newGateway(t)
	var out lockedBuffer
	g.app = newAppLogging(t, g, &out)
	tests := []struct {
		method, path string
		status       int
		typ, allow   string
	}{
		{"QUERY", "/api/echo/v1", 405, "method-not-allowed", "GET, POST"},
		{"QUERY", "/api/echo", 405, "method-not-allowed", "GET, POST"},
		{"FOO", "/healthz", 405, "method-not-allowed", "GET"},
		{"FOO", "/healthz/", 405, "method-not-allowed", "GET"},
		{"PROPFIND", "/api", 405, "method-not-allowed", "GET"},
		{"get", "/openapi.json", 405, "method-not-allowed", "GET"}, // methods are case-sensitive
		{"FOO", "/nowhere", 501, "not-implemented", ""},
		{"QUERY", "/api/echo/v1/extra/segments", 501, "not-implemented", ""},
		{"DELETE", "/api/echo/v1", 405, "method-not-allowed", "GET, POST"}, // a known method, as before
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := g.do(t, tt.method, tt.path, `{"text": "a"}`, "Content-Type", jsonCT, "X-Request-Id", "m-1")
			if r.status != tt.status {
				t.Fatalf("got %d; want %d (body %s)", r.status, tt.status, r.body)
			}
			p := r.problem(t)
			if p["type"] != "urn:notebridge:problem:"+tt.typ || p["request_id"] != "m-1" || r.header.Get("X-Request-Id") != "m-1" {
				t.Errorf("type %v, request_id %v, X-Request-Id %q; want %s and m-1", p["type"], p["request_id"], r.header.Get("X-Request-Id"), tt.typ)
			}
			if got := r.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q; want %q", got, tt.allow)
			}
			var line map[string]any
			if err := json.Unmarshal(out.take(), &line); err != nil {
				t.Fatalf("want one JSON access log line: %v", err)
			}
			if line["method"] != tt.method || line["status"] != float64(tt.status) || line["request_id"] != "m-1" {
				t.Errorf("log line %v; want method %s, status %d, request_id m-1", line, tt.method, tt.status)
			}
		})
	}
}
