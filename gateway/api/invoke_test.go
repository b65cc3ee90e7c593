package api_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/notebridge/notebridge/gateway/internal/contracttest"
	"github.com/notebridge/notebridge/gateway/internal/refworker"
)

const jsonCT = "application/json"

func TestInvokeSuccess(t *testing.T) {
	g := newGateway(t)
	g.serveEcho(t, []int{1, 2})
	tests := []struct {
		name, path, body, want string
	}{
		{"versioned path", "/api/echo/v1", `{"text": "hello"}`, `{"text":"hello"}`},
		{"latest non-deprecated version", "/api/echo", `{"text": "hi"}`, `{"text":"hi"}`},
		{"deprecated version by name", "/api/echo/v2", `{"text": "old"}`, `{"text":"old"}`},
		{"big numbers keep their digits", "/api/echo/v1", `{"text": "n", "n": 123456789012345678901234567890.123456789}`, `{"text":"n","n":123456789012345678901234567890.123456789}`},
		{"non-ASCII within maxLength", "/api/echo/v1", `{"text": "日本語😀"}`, `{"text":"日本語😀"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := g.do(t, "POST", tt.path, tt.body, "Content-Type", jsonCT)
			if r.status != 200 {
				t.Fatalf("got %d; want 200 (body %s)", r.status, r.body)
			}
			if got := string(r.body); got != tt.want {
				t.Errorf("body = %s; want %s", got, tt.want)
			}
			if ct := r.header.Get("Content-Type"); ct != jsonCT {
				t.Errorf("Content-Type = %q; want %q", ct, jsonCT)
			}
			if r.header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id on the response")
			}
		})
	}
}

func TestInvokeRequestID(t *testing.T) {
	g := newGateway(t)
	g.serveEcho(t, []int{1})
	tests := []struct {
		name, sent string
		kept       bool
	}{
		{"sane id is kept", "req-42_a.b:c", true},
		{"id with a space is replaced", "bad id", false},
		{"overlong id is replaced", strings.Repeat("a", 129), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := g.do(t, "POST", "/api/echo/v1", `{"text": "x"}`, "Content-Type", jsonCT, "X-Request-Id", tt.sent)
			got := r.header.Get("X-Request-Id")
			if (got == tt.sent) != tt.kept || got == "" {
				t.Errorf("X-Request-Id = %q for %q; kept = %v, want kept = %v", got, tt.sent, got == tt.sent, tt.kept)
			}
		})
	}
}

func TestInvokeErrors(t *testing.T) {
	g := newGateway(t)
	g.serveEcho(t, []int{1}) // echo v2 has no worker
	tests := []struct {
		name     string
		method   string
		path     string
		body     string
		headers  []string
		status   int
		typ      string // problem type slug
		contains string // in detail
		check    func(t *testing.T, r response, p map[string]any)
	}{
		{name: "malformed JSON says where", path: "/api/echo/v1", body: "{\n\"text\": nope}", status: 400, typ: "malformed-json", contains: "line 2",
			check: func(t *testing.T, _ response, p map[string]any) {
				if p["line"] != 2.0 || p["column"] != 10.0 {
					t.Errorf("line, column = %v, %v; want 2, 10", p["line"], p["column"])
				}
			}},
		{name: "empty body", path: "/api/echo/v1", body: "", status: 400, typ: "malformed-json", contains: "empty body"},
		{name: "trailing data", path: "/api/echo/v1", body: `{"text": "a"} x`, status: 400, typ: "malformed-json", contains: "after the JSON value"},
		{name: "no content type", path: "/api/echo/v1", body: `{"text": "a"}`, headers: []string{"Content-Type", ""}, status: 415, typ: "unsupported-media-type"},
		{name: "form content type", path: "/api/echo/v1", body: `{"text": "a"}`, headers: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, typ: "unsupported-media-type"},
		{name: "wrong method", method: "PUT", path: "/api/echo/v1", body: `{}`, status: 405, typ: "method-not-allowed",
			check: func(t *testing.T, r response, _ map[string]any) {
				if got := r.header.Get("Allow"); got != "GET, POST" {
					t.Errorf("Allow = %q; want %q", got, "GET, POST")
				}
			}},
		{name: "unknown contract", path: "/api/nope", body: `{}`, status: 404, typ: "not-found", contains: "nope"},
		{name: "unknown version", path: "/api/echo/v9", body: `{}`, status: 404, typ: "not-found", contains: "v9"},
		{name: "version without v", path: "/api/echo/1", body: `{}`, status: 404, typ: "not-found", contains: "v1, v2"},
		{name: "unknown route", path: "/nowhere", body: `{}`, status: 404, typ: "not-found"},
		{name: "every violation listed", path: "/api/echo/v1", body: `{"text": 5, "sleep_ms": -1, "extra": 1}`, status: 422, typ: "invalid-request",
			check: func(t *testing.T, _ response, p map[string]any) {
				errs, _ := p["errors"].([]any)
				if len(errs) != 3 {
					t.Fatalf("got %d errors %v; want 3", len(errs), p["errors"])
				}
				first := errs[0].(map[string]any)
				if first["instancePath"] != "" || first["keyword"] != "additionalProperties" || first["message"] == "" {
					t.Errorf("errors[0] = %v; want instancePath \"\", keyword additionalProperties and a message", first)
				}
				if p["contract"] != "echo/v1" {
					t.Errorf("contract = %v; want echo/v1", p["contract"])
				}
			}},
		{name: "code points, not bytes", path: "/api/echo/v1", body: `{"text": "` + strings.Repeat("é", 65) + `"}`, status: 422, typ: "invalid-request"},
		{name: "bad Request-Timeout", path: "/api/echo/v1", body: `{"text": "a"}`, headers: []string{"Request-Timeout", "soon"}, status: 400, typ: "invalid-header", contains: "Request-Timeout"},
		{name: "negative Request-Timeout", path: "/api/echo/v1", body: `{"text": "a"}`, headers: []string{"Request-Timeout", "-1"}, status: 400, typ: "invalid-header"},
		{name: "no worker", path: "/api/echo/v2", body: `{"text": "a"}`, status: 503, typ: "no-worker", contains: "echo/v2",
			check: func(t *testing.T, r response, _ map[string]any) {
				if got := r.header.Get("Retry-After"); got != "1" {
					t.Errorf("Retry-After = %q; want 1", got)
				}
			}},
		{name: "deadline from Request-Timeout", path: "/api/echo/v1", body: `{"text": "a", "sleep_ms": 1500}`, headers: []string{"Request-Timeout", "0.2"}, status: 504, typ: "deadline-exceeded", contains: "200ms"},
		{name: "deadline from the contract", path: "/api/echo/v1", body: `{"text": "a", "sleep_ms": 2500}`, headers: []string{"Request-Timeout", "100"}, status: 504, typ: "deadline-exceeded", contains: "2s"},
		{name: "worker error keeps its code", path: "/api/echo/v1", body: `{"text": "a", "behavior": "fail"}`, status: 502, typ: "worker-error", contains: "echo was asked to fail",
			check: func(t *testing.T, _ response, p map[string]any) {
				if p["code"] != "echo_failed" {
					t.Errorf("code = %v; want echo_failed", p["code"])
				}
			}},
		{name: "worker crash", path: "/api/echo/v1", body: `{"text": "a", "behavior": "crash"}`, status: 502, typ: "worker-error",
			check: func(t *testing.T, _ response, p map[string]any) {
				if p["code"] != "internal" {
					t.Errorf("code = %v; want internal", p["code"])
				}
			}},
		{name: "reply breaks the response schema", path: "/api/echo/v1", body: `{"text": "a", "behavior": "bad_reply"}`, status: 502, typ: "invalid-reply", contains: "3 violation(s)",
			check: func(t *testing.T, _ response, p map[string]any) {
				var got []string
				for _, e := range p["errors"].([]any) {
					v := e.(map[string]any)
					got = append(got, fmt.Sprint(v["instancePath"], " ", v["keyword"]))
				}
				if want := []string{" additionalProperties", "/n type", "/text type"}; !slices.Equal(got, want) {
					t.Errorf("errors = %q; want every violation %q", got, want)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "POST"
			}
			headers := append([]string{"Content-Type", jsonCT}, tt.headers...)
			r := g.do(t, method, tt.path, tt.body, headers...)
			if r.status != tt.status {
				t.Fatalf("got %d; want %d (body %s)", r.status, tt.status, r.body)
			}
			p := r.problem(t)
			if p["type"] != "urn:notebridge:problem:"+tt.typ {
				t.Errorf("type = %v; want urn:notebridge:problem:%s", p["type"], tt.typ)
			}
			if p["status"] != float64(tt.status) {
				t.Errorf("status member = %v; want %d", p["status"], tt.status)
			}
			if id := r.header.Get("X-Request-Id"); id == "" || p["request_id"] != id {
				t.Errorf("request_id = %v, X-Request-Id = %q; want the same non-empty id", p["request_id"], id)
			}
			if detail, _ := p["detail"].(string); !strings.Contains(detail, tt.contains) {
				t.Errorf("detail %q does not contain %q", detail, tt.contains)
			}
			if tt.check != nil {
				tt.check(t, r, p)
			}
		})
	}
}

func TestInvokeDrift(t *testing.T) {
	g := newGateway(t)
	g.serveEcho(t, []int{1}, refworker.WithDigest("sha256:0000"))
	r := g.do(t, "POST", "/api/echo/v1", `{"text": "a"}`, "Content-Type", jsonCT)
	if r.status != 502 {
		t.Fatalf("got %d; want 502 (body %s)", r.status, r.body)
	}
	p := r.problem(t)
	if p["type"] != "urn:notebridge:problem:contract-drift" || p["contract"] != "echo/v1" {
		t.Errorf("type, contract = %v, %v; want contract-drift, echo/v1", p["type"], p["contract"])
	}
}

func TestInvokeNATSDown(t *testing.T) {
	g := newGateway(t)
	g.serveEcho(t, []int{1})
	g.ns.Shutdown()
	g.ns.WaitForShutdown()
	r := g.do(t, "POST", "/api/echo/v1", `{"text": "a"}`, "Content-Type", jsonCT, "Request-Timeout", "1")
	if r.status != 503 && r.status != 504 {
		t.Fatalf("got %d; want 503 or 504 (body %s)", r.status, r.body)
	}
}

func TestProblemTextIsNotHTMLEscaped(t *testing.T) {
	g := newGateway(t)
	r := g.do(t, "POST", "/api/echo/v1", `{"text": "a", "sleep_ms": -1}`, "Content-Type", jsonCT)
	if !strings.Contains(string(r.body), "must be >= 0") {
		t.Errorf("body %s; want the violation to read \"must be >= 0\", not \\u003e=", r.body)
	}
}

// TestInvalidRequestListsEveryMissingProperty: the 422 has one error per
// missing required property, in the shape the worker reports them.
func TestInvalidRequestListsEveryMissingProperty(t *testing.T) {
	dir := t.TempDir()
	contracttest.Tree{
		"schemas/req.json":    `{"type": "object", "required": ["a", "b"], "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}`,
		"schemas/resp.json":   `{}`,
		"contracts/t.v1.json": contracttest.Manifest(`"examples": [{"name": "x", "request": {"a": "1", "b": "2"}}]`),
	}.Write(t, dir)
	g := newGatewayWith(t, filepath.Join(dir, "contracts"))
	for _, body := range []string{`{}`, `{"c": 1}`} {
		r := g.do(t, "POST", "/api/t/v1", body, "Content-Type", "application/json")
		if r.status != 422 {
			t.Fatalf("%s: got %d; want 422 (%s)", body, r.status, r.body)
		}
		p := r.problem(t)
		got, _ := json.Marshal(p["errors"])
		want := `[{"instancePath":"","keyword":"required","message":"missing required property \"a\""},` +
			`{"instancePath":"","keyword":"required","message":"missing required property \"b\""}]`
		if string(got) != want {
			t.Errorf("%s: errors = %s; want %s", body, got, want)
		}
	}
}
