package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/notebridge/notebridge/gateway/api"
	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/embedded"
	"github.com/notebridge/notebridge/gateway/internal/natstest"
	"github.com/notebridge/notebridge/gateway/internal/refworker"
)

// testBodyLimit is small so the 413 test sends little.
const testBodyLimit = 4096

// gateway is a gateway wired to a real in-process NATS server.
type gateway struct {
	app *fiber.App
	ns  *server.Server
	nc  *nats.Conn
	reg *contracts.Registry
}

// newGateway starts a NATS server, loads the test contracts and builds the
// app. Workers are started by the test, so each test decides who listens.
func newGateway(t testing.TB) *gateway {
	t.Helper()
	return newGatewayWith(t, "../../testdata/contracts")
}

// newGatewayWith is newGateway for the contracts in dirs.
func newGatewayWith(t testing.TB, dirs ...string) *gateway {
	t.Helper()
	ns, err := embedded.Start(embedded.Config{Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	var g *gateway
	// The server the gateway ends with: a test may have restarted it.
	t.Cleanup(func() { g.ns.Shutdown(); g.ns.WaitForShutdown() })
	g = newGatewayOn(t, ns, ns.ClientURL(), dirs...)
	return g
}

// newGatewayConfigured is newGateway with the settings configure makes
// (CORS, bounds, a tracer...) on top of the harness's.
func newGatewayConfigured(t testing.TB, configure func(*api.Config)) *gateway {
	t.Helper()
	ns := natstest.Server(t, embedded.Config{Port: -1})
	return buildGateway(t, ns, ns.ClientURL(), []string{"../../testdata/contracts"}, configure)
}

// newGatewayOn is newGatewayWith on a running server ns, joined at url.
func newGatewayOn(t testing.TB, ns *server.Server, url string, dirs ...string) *gateway {
	t.Helper()
	return buildGateway(t, ns, url, dirs, func(*api.Config) {})
}

func buildGateway(t testing.TB, ns *server.Server, url string, dirs []string, configure func(*api.Config)) *gateway {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	reg, err := contracts.Load(dirs...)
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.Config{
		Registry: reg, Conn: nc, BodyLimit: testBodyLimit,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	configure(&cfg)
	app, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &gateway{app: app, ns: ns, nc: nc, reg: reg}
}

// serveEcho starts the Go reference worker for the given echo versions on
// its own connection, as a separate worker process would.
func (g *gateway) serveEcho(t testing.TB, versions []int, opts ...refworker.Option) {
	t.Helper()
	g.serve(t, "echo", versions, opts...)
}

// serve starts the Go reference worker for versions of the named contract.
func (g *gateway) serve(t testing.TB, name string, versions []int, opts ...refworker.Option) {
	t.Helper()
	nc, err := nats.Connect(g.ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	var cts []*contracts.Contract
	for _, v := range versions {
		ct, err := g.reg.Lookup(name, v)
		if err != nil {
			t.Fatal(err)
		}
		cts = append(cts, ct)
	}
	svc, err := refworker.Start(nc, cts, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// response is what a client observes.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) problem(t *testing.T) map[string]any {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q; want application/problem+json (body %s)", ct, r.body)
	}
	var p map[string]any
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body %q: %v", r.body, err)
	}
	return p
}

// do sends one request through app.Test. headers alternate name, value.
func (g *gateway) do(t *testing.T, method, path, body string, headers ...string) response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := g.app.Test(req, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	return readResponse(t, resp)
}

// readResponse reads and closes resp.
func readResponse(t testing.TB, resp *http.Response) response {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// newGatewayLimits is newGateway with the given body and header limits
// (0 for the defaults).
func newGatewayLimits(t testing.TB, bodyLimit, headerLimit int) *gateway {
	t.Helper()
	g := newGateway(t)
	app, err := api.New(api.Config{
		Registry: g.reg, Conn: g.nc, BodyLimit: bodyLimit, HeaderLimit: headerLimit,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	g.app = app
	return g
}

// newAppLogging builds g's app again, logging JSON lines to out.
func newAppLogging(t testing.TB, g *gateway, out io.Writer) *fiber.App {
	t.Helper()
	app, err := api.New(api.Config{Registry: g.reg, Conn: g.nc, BodyLimit: testBodyLimit, Logger: slog.New(slog.NewJSONHandler(out, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return app
}
