package api_test

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// fuzzRoutes are the paths FuzzInvoke posts to: a version, the latest
// version, an unknown version and an unknown contract.
var fuzzRoutes = []string{"/api/echo/v1", "/api/echo", "/api/echo/v9", "/api/nope"}

// FuzzInvoke drives the request path with any body, content type and
// Request-Timeout: whatever a client sends, the gateway answers within
// bounded time, never with a 5xx, and every error is problem+json with a
// request id. The worker answers every request with a valid reply at once,
// so a 5xx could only be the gateway's fault. The seeds are one request of
// each error class. `make test` fuzzes it briefly, `make fuzz` for longer.
// maxFuzzHeader bounds each header value FuzzInvoke sends, so that the
// whole head stays under the default header limit (4 KiB).
const maxFuzzHeader = 1024

func FuzzInvoke(f *testing.F) {
	seeds := []struct {
		body, contentType, timeout string
	}{
		{`{"text":"hello"}`, jsonCT, ""},
		{`{"text":"hello","n":12345678901234567890.125,"sleep_ms":2.0}`, "application/problem+json; charset=utf-8", "0.5"},
		{`{"text":"hello"`, jsonCT, ""},                                   // malformed
		{`{"text":"a","sleep_ms":1e1000001}`, jsonCT, ""},                 // number domain
		{`{"text":"a","n":` + strings.Repeat("9", 101) + `}`, jsonCT, ""}, // digits
		{`{"text":"a","n":` + strings.Repeat("[", 70) + `}`, jsonCT, ""},  // depth
		{"{\"text\":\"\xff\"}", jsonCT, ""},                               // UTF-8
		{`{"text":"\ud800"}`, jsonCT, ""},                                 // lone surrogate
		{`{"text":"","extra":1}`, jsonCT, ""},                             // schema
		{`{"text":"a"}`, "text/plain", ""},                                // media type
		{`{"text":"a"}`, jsonCT, "Inf"},                                   // header
		{`{"text":"a"}`, jsonCT, "1e-300"},
		{strings.Repeat("x", testBodyLimit+1), jsonCT, ""}, // size
		{``, "", ""},
	}
	for i, s := range seeds {
		f.Add([]byte(s.body), s.contentType, s.timeout, uint8(i))
	}
	g := newGateway(f)
	for _, v := range []int{1, 2} {
		ct, err := g.reg.Lookup("echo", v)
		if err != nil {
			f.Fatal(err)
		}
		reply := []byte(ct.Examples[0].Response)
		if _, err := g.nc.Subscribe(ct.Subject, func(m *nats.Msg) { _ = m.Respond(reply) }); err != nil {
			f.Fatal(err)
		}
	}
	if err := g.nc.Flush(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, contentType, timeout string, route uint8) {
		// Heads over the header limit are rawhttp_test's (431 over a real
		// socket): app.Test cannot read them, and fails without an answer.
		contentType, timeout = contentType[:min(len(contentType), maxFuzzHeader)], timeout[:min(len(timeout), maxFuzzHeader)]
		req := httptest.NewRequest("POST", fuzzRoutes[int(route)%len(fuzzRoutes)], bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		if timeout != "" {
			req.Header.Set("Request-Timeout", timeout)
		}
		resp, err := g.app.Test(req, 5_000)
		if err != nil {
			t.Fatalf("no answer within 5 s: %v", err)
		}
		r := readResponse(t, resp)
		if r.status >= 500 || r.status < 200 {
			t.Fatalf("got %d; want a 2xx or 4xx (body %s)", r.status, r.body)
		}
		if r.status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("got %d with Content-Type %q; want application/problem+json", r.status, r.header.Get("Content-Type"))
		}
		if r.header.Get("X-Request-Id") == "" {
			t.Fatal("no X-Request-Id")
		}
	})
}
