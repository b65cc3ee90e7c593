package api_test

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/notebridge/notebridge/gateway/api"
	"github.com/notebridge/notebridge/gateway/contracts"
)

// withApp rebuilds g's app from a config the test adjusts, on the same
// NATS server and contracts.
func (g *gateway) withApp(t *testing.T, adjust func(*api.Config)) *gateway {
	t.Helper()
	cfg := api.Config{
		Registry: g.reg, Conn: g.nc, BodyLimit: testBodyLimit,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	adjust(&cfg)
	app, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &gateway{app: app, ns: g.ns, nc: g.nc, reg: g.reg}
}

// nested is n arrays around a number, as the value of echo's "n".
func nested(n int) string {
	return `{"text":"a","n":` + strings.Repeat("[", n) + "1" + strings.Repeat("]", n) + "}"
}

func TestRequestLimits(t *testing.T) {
	g := newGateway(t)
	g.serveEcho(t, []int{1})
	tests := []struct {
		name   string
		body   string
		status int
		typ    string
		// errors are the instancePath and keyword of each violation (422).
		errors [][2]string
		// line and column of the problem (400).
		line, column int
	}{
		{"a huge exponent on a numeric keyword", `{"text":"a","sleep_ms":1e1000001}`, 422, "invalid-request",
			[][2]string{{"/sleep_ms", "numberDomain"}}, 0, 0},
		{"every number outside the domain", `{"text":"a","n":1E400,"sleep_ms":-1e-400}`, 422, "invalid-request",
			[][2]string{{"/n", "numberDomain"}, {"/sleep_ms", "numberDomain"}}, 0, 0},
		{"an integer over the digit limit", `{"text":"a","n":` + strings.Repeat("9", 101) + `}`, 422, "invalid-request",
			[][2]string{{"/n", "numberDomain"}}, 0, 0},
		{"nesting at the limit reaches the schema", nested(63), 422, "invalid-request",
			[][2]string{{"/n", "type"}}, 0, 0},
		{"nesting over the limit", nested(64), 400, "too-deep", nil, 1, 80},
		{"invalid UTF-8", "{\"text\":\"a\xff\"}", 400, "malformed-json", nil, 1, 11},
		{"overlong UTF-8", "{\"text\":\"\xc0\xaf\"}", 400, "malformed-json", nil, 1, 10},
		{"CESU-8", "{\"text\":\"\xed\xa0\x80\xed\xb0\x80\"}", 400, "malformed-json", nil, 1, 10},
		{"a lone surrogate", `{"text":"\ud800"}`, 400, "malformed-json", nil, 1, 10},
		{"a lone low surrogate", `{"text":"a\udc00b"}`, 400, "malformed-json", nil, 1, 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := g.do(t, "POST", "/api/echo/v1", tt.body, "Content-Type", jsonCT)
			if r.status != tt.status {
				t.Fatalf("got %d; want %d (body %s)", r.status, tt.status, r.body)
			}
			p := r.problem(t)
			if got := p["type"]; got != "urn:notebridge:problem:"+tt.typ {
				t.Fatalf("type = %v; want %s (body %s)", got, tt.typ, r.body)
			}
			if tt.line != 0 && (p["line"] != float64(tt.line) || p["column"] != float64(tt.column)) {
				t.Errorf("line %v, column %v; want %d, %d", p["line"], p["column"], tt.line, tt.column)
			}
			errs, _ := p["errors"].([]any)
			if len(errs) != len(tt.errors) {
				t.Fatalf("got %d errors; want %d (body %s)", len(errs), len(tt.errors), r.body)
			}
			for i, e := range errs {
				v := e.(map[string]any)
				if v["instancePath"] != tt.errors[i][0] || v["keyword"] != tt.errors[i][1] {
					t.Errorf("errors[%d] = %v; want %s at %s", i, v, tt.errors[i][1], tt.errors[i][0])
				}
			}
		})
	}
}

func TestRequestLimitsLetValidTextThrough(t *testing.T) {
	g := newGateway(t)
	g.serveEcho(t, []int{1})
	tests := []struct{ name, body, want string }{
		{"a surrogate pair", `{"text":"\ud83d\ude00"}`, `{"text":"😀"}`},
		{"an integer written 2.0", `{"text":"a","sleep_ms":2.0}`, `{"text":"a"}`},
		{"numbers at the edges of the domain", `{"text":"a","n":-9.9e307}`, `{"text":"a","n":-9.9e307}`},
		{"the smallest magnitude", `{"text":"a","n":1e-307}`, `{"text":"a","n":1e-307}`},
		{"100 digits", `{"text":"a","n":` + strings.Repeat("9", 100) + `}`, `{"text":"a","n":` + strings.Repeat("9", 100) + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := g.do(t, "POST", "/api/echo/v1", tt.body, "Content-Type", jsonCT)
			if r.status != 200 || string(r.body) != tt.want {
				t.Fatalf("got %d %s; want 200 %s", r.status, r.body, tt.want)
			}
		})
	}
}

func TestRequestLimitsAreConfigurable(t *testing.T) {
	g := newGateway(t)
	g.serveEcho(t, []int{1})
	g = g.withApp(t, func(cfg *api.Config) {
		cfg.Limits = contracts.Limits{MaxDepth: 3, MaxNumberDigits: 4300}
		cfg.BodyLimit = 8192
	})
	big := `{"text":"a","n":` + strings.Repeat("7", 4300) + `}`
	if r := g.do(t, "POST", "/api/echo/v1", big, "Content-Type", jsonCT); r.status != 200 || string(r.body) != big {
		t.Errorf("4300 digits with -max-number-digits 4300: got %d %.80s; want 200 and the number back", r.status, r.body)
	}
	if r := g.do(t, "POST", "/api/echo/v1", nested(3), "Content-Type", jsonCT); r.status != 400 {
		t.Errorf("4 deep with -max-depth 3: got %d; want 400 (body %s)", r.status, r.body)
	}
}

// A megabyte of '[' costs a decoder minutes and gigabytes; it is answered
// at once.
func TestRequestOfDeepNestingIsAnsweredAtOnce(t *testing.T) {
	g := newGateway(t).withApp(t, func(cfg *api.Config) { cfg.BodyLimit = 2 << 20 })
	body := `{"text":"a","n":` + strings.Repeat("[", 2<<20-64)
	start := time.Now()
	r := g.do(t, "POST", "/api/echo/v1", body, "Content-Type", jsonCT)
	if r.status != 400 || r.problem(t)["type"] != "urn:notebridge:problem:too-deep" {
		t.Fatalf("got %d %s; want 400 too-deep", r.status, r.body)
	}
	if d := time.Since(start); d > 5*time.Second { // generous: the pass takes milliseconds
		t.Errorf("took %s", d)
	}
}

func TestReplyLimits(t *testing.T) {
	g := newGateway(t)
	ct, err := g.reg.Lookup("echo", 1)
	if err != nil {
		t.Fatal(err)
	}
	// A responder that answers whatever the request's text names.
	replies := map[string]string{
		"deep":      nested(64),
		"not utf-8": "{\"text\":\"\xff\"}",
		"surrogate": `{"text":"\udfff"}`,
		"huge":      `{"text":"a","n":1e400}`,
		"long":      `{"text":"a","n":` + strings.Repeat("1", 4301) + `}`,
		"ok":        `{"text":"a","n":` + strings.Repeat("1", 4300) + `}`,
	}
	nc, err := nats.Connect(g.ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	sub, err := nc.Subscribe(ct.Subject, func(m *nats.Msg) {
		v, _ := contracts.DecodeJSON(m.Data)
		_ = m.Respond([]byte(replies[v.(map[string]any)["text"].(string)]))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string]int{"deep": 502, "not utf-8": 502, "surrogate": 502, "huge": 502, "long": 502, "ok": 200} {
		t.Run(text, func(t *testing.T) {
			r := g.do(t, "POST", "/api/echo/v1", `{"text":"`+text+`"}`, "Content-Type", jsonCT)
			if r.status != want {
				t.Fatalf("got %d; want %d (body %.200s)", r.status, want, r.body)
			}
			if want == 502 && r.problem(t)["type"] != "urn:notebridge:problem:invalid-reply" {
				t.Errorf("type = %v; want invalid-reply", r.problem(t)["type"])
			}
		})
	}
}

// A client that sends part of its request and then nothing loses its
// connection at -read-timeout, where it would otherwise hold it forever.
func TestReadTimeoutClosesATricklingConnection(t *testing.T) {
	g := newGateway(t).withApp(t, func(cfg *api.Config) { cfg.ReadTimeout = 300 * time.Millisecond })
	tests := []struct{ name, sent string }{
		{"half a head", "POST /api/echo/v1 HTTP/1.1\r\nHost: x\r\n"},
		{"half a body", "POST /api/echo/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"text\":"},
		{"a chunked body that never ends", "POST /api/echo/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"tex\r\n"},
	}
	base := g.listen(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr(base))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tt.sent); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // the test's own bound
			start := time.Now()
			_, err = io.ReadAll(conn)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the connection was still open after %s; want it closed at the read timeout", time.Since(start))
			}
		})
	}
}
