package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/notebridge/notebridge/gateway/api"
	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/embedded"
	"github.com/notebridge/notebridge/gateway/internal/contracttest"
	"github.com/notebridge/notebridge/gateway/internal/refworker"
	"github.com/notebridge/notebridge/gateway/jobs"
	"github.com/notebridge/notebridge/gateway/keys"
)

// jobContracts writes the job test contract steps/v1: its worker
// (refworker.StartJobs) takes `steps` steps of `step_ms` each, reporting
// progress, and fails or dies on the attempts the request lists. Its ack
// wait is one second, so a dead worker's job comes back quickly.
func jobContracts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	attempts := `{"type": "array", "items": {"type": "integer", "minimum": 1}}`
	files := map[string]string{
		"schemas/request.json": `{"type": "object", "required": ["text"], "additionalProperties": false, "properties": {
			"text": {"type": "string", "maxLength": 200}, "steps": {"type": "integer", "minimum": 0, "maximum": 1000},
			"step_ms": {"type": "integer", "minimum": 0}, "fail_on": ` + attempts + `, "die_on": ` + attempts + `}}`,
		"schemas/result.json": `{"type": "object", "required": ["text", "attempt"], "additionalProperties": false,
			"properties": {"text": {"type": "string"}, "attempt": {"type": "integer"}}}`,
		"contracts/steps.v1.json": `{"name": "steps", "version": 1, "description": "a job in steps", "mode": "job",
			"timeout_seconds": 30, "max_attempts": 3, "ack_wait_seconds": 1,
			"request_schema": "../schemas/request.json", "response_schema": "../schemas/result.json",
			"examples": [{"name": "two steps", "request": {"text": "hi", "steps": 2}, "response": {"text": "hi", "attempt": 1}}]}`,
	}
	contracttest.Tree(files).Write(t, dir)
	return filepath.Join(dir, "contracts")
}

// jobGateway is a gateway with job mode, on a NATS server with JetStream
// whose data directory outlives restart.
type jobGateway struct {
	*gateway
	svc     *jobs.Service
	cfg     jobs.Config
	dirs    []string
	dataDir string
	// keyed makes the gateway require API keys (api.Config.Keys), from
	// the key bucket of its NATS server.
	keyed bool
	log   io.Writer
}

// newJobGateway starts a gateway serving steps/v1 and the echo test
// contracts (sync), with job mode configured by cfg.
func newJobGateway(t *testing.T, cfg jobs.Config) *jobGateway {
	t.Helper()
	g := &jobGateway{cfg: cfg, dirs: []string{jobContracts(t), "../../testdata/contracts"}, dataDir: t.TempDir()}
	g.start(t)
	t.Cleanup(g.stop)
	return g
}

func (g *jobGateway) start(t *testing.T) {
	t.Helper()
	ns, err := embedded.Start(embedded.Config{Port: -1, DataDir: g.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := contracts.Load(g.dirs...)
	if err != nil {
		t.Fatal(err)
	}
	app, svc := g.serve(t, nc, reg)
	g.gateway = &gateway{app: app, ns: ns, nc: nc, reg: reg}
	g.svc = svc
}

// serve starts job mode with g's config and the gateway's app on nc.
func (g *jobGateway) serve(t *testing.T, nc *nats.Conn, reg *contracts.Registry) (*fiber.App, *jobs.Service) {
	t.Helper()
	out := g.log
	if out == nil {
		out = io.Discard
	}
	quiet := slog.New(slog.NewTextHandler(out, nil))
	cfg := g.cfg
	cfg.Logger = quiet
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	svc, err := jobs.Start(ctx, nc, reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var auth api.Authenticator
	var limiter api.RateLimiter
	if g.keyed {
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		watching, stop := context.WithCancel(context.Background())
		t.Cleanup(stop)
		auth, limiter = keys.Watch(watching, js, quiet), keys.NewLimiter(js)
	}
	app, err := api.New(api.Config{Registry: reg, Conn: nc, Jobs: svc, BodyLimit: testBodyLimit, Logger: quiet, Keys: auth, RateLimiter: limiter})
	if err != nil {
		t.Fatal(err)
	}
	return app, svc
}

// stop stops the gateway and its NATS server, as a process exit would.
func (g *jobGateway) stop() {
	if g.gateway == nil {
		return
	}
	_ = g.app.Shutdown()
	g.svc.Stop()
	g.nc.Close()
	g.ns.Shutdown()
	g.ns.WaitForShutdown()
	g.gateway = nil
}

// restart stops the gateway and NATS and starts both again on the same
// data directory.
func (g *jobGateway) restart(t *testing.T) {
	t.Helper()
	g.stop()
	g.start(t)
}

// worker starts a job worker for steps/v1 on a connection of its own, as
// a worker process would, and returns that connection so that a test can
// kill the worker.
func (g *jobGateway) worker(t *testing.T, opts ...refworker.JobOption) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(g.ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	ct, err := g.reg.Lookup("steps", 1)
	if err != nil {
		t.Fatal(err)
	}
	w, err := refworker.StartJobs(nc, ct, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Stop(); nc.Close() })
	return nc
}

// jobView is a job record as a client reads it.
type jobView struct {
	ID       string `json:"id"`
	Contract string `json:"contract"`
	Status   string `json:"status"`
	Progress *struct {
		Fraction float64 `json:"fraction"`
		Message  string  `json:"message"`
	} `json:"progress"`
	Result    json.RawMessage `json:"result"`
	Error     *jobs.Error     `json:"error"`
	Attempts  int             `json:"attempts"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	RequestID string          `json:"request_id"`
}

// submit posts a job and returns its id; headers alternate name, value.
func (g *jobGateway) submit(t *testing.T, path, body string, headers ...string) string {
	t.Helper()
	r := g.do(t, "POST", path, body, append([]string{"Content-Type", jsonCT}, headers...)...)
	if r.status != 202 {
		t.Fatalf("POST %s: got %d; want 202 (body %s)", path, r.status, r.body)
	}
	var acc struct{ ID, Status, Href string }
	if err := json.Unmarshal(r.body, &acc); err != nil {
		t.Fatal(err)
	}
	return acc.ID
}

// job reads GET /jobs/{id}.
func (g *jobGateway) job(t *testing.T, id string) (jobView, []byte) {
	t.Helper()
	r := g.do(t, "GET", "/jobs/"+id, "")
	if r.status != 200 {
		t.Fatalf("GET /jobs/%s: got %d; want 200 (body %s)", id, r.status, r.body)
	}
	var v jobView
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatal(err)
	}
	// Every record a test reads is one protocol/job-record.schema.json admits.
	schema, err := jobRecordSchema()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := contracts.DecodeJSON(r.body)
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Errorf("GET /jobs/%s: the record breaks protocol/job-record.schema.json: %v\n%s", id, err, r.body)
	}
	return v, r.body
}

var jobRecordSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	return jsonschema.Compile("../../protocol/job-record.schema.json")
})

// waitJob polls a job until done says so, for at most 20 seconds: a bound
// on a hang, not a timing assertion.
func (g *jobGateway) waitJob(t *testing.T, id string, what string, done func(jobView) bool) jobView {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, body := g.job(t, id)
		if done(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s never became %s; last record %s", id, what, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (g *jobGateway) waitFinal(t *testing.T, id string) jobView {
	t.Helper()
	return g.waitJob(t, id, "final", func(v jobView) bool {
		return jobs.Status(v.Status).Final()
	})
}

// waitStreamEmpty waits until the job stream holds no message: every job
// was acknowledged or removed, none is left behind.
func (g *jobGateway) waitStreamEmpty(t *testing.T, stream string) {
	t.Helper()
	js, err := jetstream.New(g.nc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := js.Stream(context.Background(), stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s still holds %d message(s)", stream, info.State.Msgs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// streamMsgs counts the messages in a stream now.
func (g *jobGateway) streamMsgs(t *testing.T, stream string) uint64 {
	t.Helper()
	js, err := jetstream.New(g.nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// replica starts a second gateway on the same NATS server and contracts,
// as another replica behind a load balancer would be.
func (g *jobGateway) replica(t *testing.T) *gateway {
	t.Helper()
	nc, err := nats.Connect(g.ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	app, svc := g.serve(t, nc, g.reg)
	t.Cleanup(func() { _ = app.Shutdown(); svc.Stop(); nc.Close() })
	return &gateway{app: app, ns: g.ns, nc: nc, reg: g.reg}
}
