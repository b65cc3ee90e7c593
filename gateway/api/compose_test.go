package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/notebridge/notebridge/gateway/api"
	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/embedded"
	"github.com/notebridge/notebridge/gateway/internal/contracttest"
	"github.com/notebridge/notebridge/gateway/internal/natstest"
	"github.com/notebridge/notebridge/gateway/jobs"
	"github.com/notebridge/notebridge/gateway/wire"
)

// composeContracts writes three worker-served contracts a, b and c (text
// in, text out) and sync compositions of them; with jobs, the composed job
// contract pair/v1 too.
func composeContracts(t testing.TB, jobs bool) string {
	t.Helper()
	dir := t.TempDir()
	worker := func(name string) string {
		return `{"name": "` + name + `", "version": 1, "mode": "sync", "timeout_seconds": 2,
			"request_schema": "../schemas/text.json", "response_schema": "../schemas/text.json",
			"examples": [{"name": "x", "request": {"text": "x"}}]}`
	}
	composed := func(name, mode, req, resp, compose string) string {
		extra := ""
		if mode == "job" {
			extra = `"ack_wait_seconds": 1, "max_attempts": 3,`
		}
		return `{"name": "` + name + `", "version": 1, "mode": "` + mode + `", "timeout_seconds": 3, ` + extra + `
			"request_schema": "../schemas/` + req + `", "response_schema": "../schemas/` + resp + `",
			"compose": ` + compose + `, "examples": [{"name": "x", "request": {"text": "x", "items": []}}]}`
	}
	three := func(require string) string {
		return `{"steps": [{"name": "fan", "require": "` + require + `", "parallel": [
			{"name": "a", "call": "a/v1", "request": {"text": "/request/text"}, "into": "/a", "attempts": 2},
			{"name": "b", "call": "b/v1", "request": {"text": "/request/text"}, "into": "/b"},
			{"name": "c", "call": "c/v1", "request": {"text": "/request/text"}, "into": "/c", "timeout_seconds": 0.5}]}]}`
	}
	tree := contracttest.Tree{
		"schemas/text.json":        `{"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}, "items": {"type": "array", "items": {"type": "string"}}}}`,
		"schemas/any.json":         `{"type": "object"}`,
		"schemas/missing.json":     `{"type": "object", "required": ["missing"]}`,
		"contracts/a.v1.json":      worker("a"),
		"contracts/b.v1.json":      worker("b"),
		"contracts/c.v1.json":      worker("c"),
		"contracts/all.v1.json":    composed("all", "sync", "text.json", "any.json", three("all")),
		"contracts/quorum.v1.json": composed("quorum", "sync", "text.json", "any.json", three("quorum(2)")),
		"contracts/chain.v1.json": composed("chain", "sync", "text.json", "any.json", `{"steps": [
			{"name": "first", "call": "a/v1", "request": {"text": "/request/text"}, "into": "/first"},
			{"name": "second", "call": "b/v1", "request": {"text": "/steps/first/text"}, "into": "/out/second"}]}`),
		"contracts/fanout.v1.json": composed("fanout", "sync", "text.json", "any.json", `{"steps": [
			{"name": "each", "map": "/request/items", "call": "a/v1", "request": {"text": "/item"},
			 "into": "/texts", "max_items": 4, "concurrency": 2}]}`),
		"contracts/broken.v1.json": composed("broken", "sync", "text.json", "missing.json", `{"steps": [
			{"name": "only", "call": "a/v1", "into": "/a"}]}`),
		"contracts/absent.v1.json": composed("absent", "sync", "text.json", "any.json", `{"steps": [
			{"name": "only", "call": "a/v1", "request": {"text": "/request/absent"}, "into": "/a"}]}`),
	}
	if jobs {
		tree["contracts/pair.v1.json"] = composed("pair", "job", "text.json", "any.json", `{"steps": [{"name": "both", "parallel": [
			{"name": "a", "call": "a/v1", "request": {"text": "/request/text"}, "into": "/a"},
			{"name": "b", "call": "b/v1", "request": {"text": "/request/text"}, "into": "/b"}]}]}`)
	}
	tree.Write(t, dir)
	return filepath.Join(dir, "contracts")
}

// branchWorker answers one contract the way a worker would, counting its
// calls; answer gets each request's text and the call's number (from 1)
// and says what to reply: a text, or an error code, after a pause.
type branchWorker struct {
	calls    atomic.Int32
	inflight atomic.Int32
	most     atomic.Int32 // the most calls in flight at once
	texts    sync.Map     // text -> times seen
}

type answer struct {
	text  string
	code  string
	pause time.Duration
	usage string // the Nb-Usage header the worker sends, if any
}

func serveBranch(t *testing.T, ns *server.Server, reg *contracts.Registry, name string, reply func(text string, n int) answer) *branchWorker {
	t.Helper()
	ct, err := reg.Lookup(name, 1)
	if err != nil {
		t.Fatal(err)
	}
	nc := natstest.Conn(t, ns)
	w := &branchWorker{}
	_, err = nc.QueueSubscribe(ct.Subject, "workers", func(msg *nats.Msg) {
		go w.answer(msg, reply) // each call at once, as a worker's concurrent handlers are
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *branchWorker) answer(msg *nats.Msg, reply func(text string, n int) answer) {
	n := int(w.calls.Add(1))
	if now := w.inflight.Add(1); now > w.most.Load() {
		w.most.Store(now)
	}
	defer w.inflight.Add(-1)
	var req struct{ Text string }
	_ = json.Unmarshal(msg.Data, &req)
	seen, _ := w.texts.LoadOrStore(req.Text, new(atomic.Int32))
	seen.(*atomic.Int32).Add(1)
	a := reply(req.Text, n)
	time.Sleep(a.pause)
	out := nats.NewMsg(msg.Reply)
	if a.usage != "" {
		out.Header.Set(wire.HeaderUsage, a.usage)
	}
	if a.code != "" {
		out.Header.Set(wire.HeaderServiceErrorCode, a.code)
		out.Header.Set(wire.HeaderServiceError, "asked to fail")
	} else {
		out.Data, _ = json.Marshal(map[string]string{"text": a.text})
	}
	_ = msg.RespondMsg(out)
}

func echoAs(prefix string) func(string, int) answer {
	return func(text string, _ int) answer { return answer{text: prefix + text} }
}

// composed is a composed call's answer as a client reads it.
type composed struct {
	Result    map[string]any `json:"result"`
	Completed bool           `json:"completed"`
	Branches  []struct {
		Step, Branch, Outcome string
		Index                 *int
		Status, Attempts      int
		Checkpointed          bool
		Error                 *struct{ Type, Detail string }
	} `json:"branches"`
}

func decodeComposed(t *testing.T, r response) composed {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("got %d; want 200 (body %s)", r.status, r.body)
	}
	var out composed
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return out
}

func TestComposedCallMergesTheBranchesReplies(t *testing.T) {
	g := newGatewayWith(t, composeContracts(t, false))
	serveBranch(t, g.ns, g.reg, "a", func(text string, _ int) answer {
		return answer{text: "a:" + text, usage: `[{"attempt": 1, "model": "m", "input_tokens": 3, "output_tokens": 2, "cost": 0.25}]`}
	})
	serveBranch(t, g.ns, g.reg, "b", func(text string, _ int) answer {
		return answer{text: "b:" + text, usage: `[{"attempt": 1, "model": "m", "input_tokens": 1, "output_tokens": 1, "cost": 0.5}]`}
	})
	serveBranch(t, g.ns, g.reg, "c", echoAs("c:"))

	r := g.do(t, "POST", "/api/chain", `{"text": "hi"}`, "Content-Type", jsonCT)
	if cost, tokens := r.header.Get(api.HeaderCost), r.header.Get(api.HeaderInputTokens); cost != "0.75" || tokens != "4" {
		t.Errorf("%s, %s = %q, %q; want the branches' sums 0.75, 4", api.HeaderCost, api.HeaderInputTokens, cost, tokens)
	}
	got := decodeComposed(t, r)
	want := `{"first":{"text":"a:hi"},"out":{"second":{"text":"b:a:hi"}}}`
	if b, _ := json.Marshal(got.Result); string(b) != want {
		t.Errorf("result = %s; want %s (step two reads step one's reply)", b, want)
	}
	if !got.Completed || len(got.Branches) != 2 {
		t.Errorf("completed = %v, %d branches; want true, 2", got.Completed, len(got.Branches))
	}

	got = decodeComposed(t, g.do(t, "POST", "/api/all", `{"text": "x"}`, "Content-Type", jsonCT))
	for _, name := range []string{"a", "b", "c"} {
		if got.Result[name].(map[string]any)["text"] != name+":x" {
			t.Errorf("result[%s] = %v; want %s:x", name, got.Result[name], name)
		}
	}
}

// A branch that times out: quorum(2) answers without it, all fails with
// its 504; either way the reply says how each branch ended.
func TestComposedRequireDecidesWhetherASlowBranchFailsTheCall(t *testing.T) {
	g := newGatewayWith(t, composeContracts(t, false))
	serveBranch(t, g.ns, g.reg, "a", echoAs("a:"))
	serveBranch(t, g.ns, g.reg, "b", echoAs("b:"))
	serveBranch(t, g.ns, g.reg, "c", func(string, int) answer { return answer{text: "late", pause: 900 * time.Millisecond} })

	t.Run("quorum(2)", func(t *testing.T) {
		got := decodeComposed(t, g.do(t, "POST", "/api/quorum", `{"text": "x"}`, "Content-Type", jsonCT))
		if got.Completed {
			t.Error("completed = true; want false: branch c timed out")
		}
		if _, ok := got.Result["c"]; ok || got.Result["a"] == nil || got.Result["b"] == nil {
			t.Errorf("result = %v; want a and b, no c", got.Result)
		}
		c := got.Branches[2]
		if c.Branch != "c" || c.Outcome != "failed" || c.Status != 504 || c.Error == nil || !strings.HasSuffix(c.Error.Type, ":deadline-exceeded") {
			t.Errorf("branch c = %+v; want failed, 504 deadline-exceeded", c)
		}
	})
	t.Run("all", func(t *testing.T) {
		r := g.do(t, "POST", "/api/all", `{"text": "x"}`, "Content-Type", jsonCT)
		if r.status != 504 {
			t.Fatalf("got %d; want 504 (body %s)", r.status, r.body)
		}
		p := r.problem(t)
		if p["type"] != "urn:notebridge:problem:deadline-exceeded" || p["contract"] != "all/v1" {
			t.Errorf("problem = %v; want deadline-exceeded of all/v1", p)
		}
		branches, _ := p["branches"].([]any)
		if len(branches) != 3 || branches[0].(map[string]any)["outcome"] != "succeeded" {
			t.Errorf("branches = %v; want three, a succeeded", branches)
		}
	})
}

func TestComposedCallRetriesAFailedBranchAlone(t *testing.T) {
	g := newGatewayWith(t, composeContracts(t, false))
	a := serveBranch(t, g.ns, g.reg, "a", func(text string, n int) answer {
		if n == 1 {
			return answer{code: "internal"} // a 502 worker error: tried again
		}
		return answer{text: "a:" + text}
	})
	b := serveBranch(t, g.ns, g.reg, "b", echoAs("b:"))
	c := serveBranch(t, g.ns, g.reg, "c", echoAs("c:"))

	got := decodeComposed(t, g.do(t, "POST", "/api/all", `{"text": "x"}`, "Content-Type", jsonCT))
	if !got.Completed || got.Branches[0].Attempts != 2 || got.Branches[0].Outcome != "succeeded" {
		t.Errorf("branch a = %+v, completed %v; want succeeded on attempt 2", got.Branches[0], got.Completed)
	}
	if a.calls.Load() != 2 || b.calls.Load() != 1 || c.calls.Load() != 1 {
		t.Errorf("calls a, b, c = %d, %d, %d; want 2, 1, 1", a.calls.Load(), b.calls.Load(), c.calls.Load())
	}
	metrics := string(g.do(t, "GET", "/metrics", "").body)
	if want := `notebridge_composition_branches_total{contract="all",outcome="succeeded",step="fan",version="1"} 3`; !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %s", want)
	}
}

func TestComposedMapCallsOncePerItemWithinItsBounds(t *testing.T) {
	g := newGatewayWith(t, composeContracts(t, false))
	a := serveBranch(t, g.ns, g.reg, "a", func(text string, _ int) answer {
		return answer{text: strings.ToUpper(text), pause: 50 * time.Millisecond}
	})

	got := decodeComposed(t, g.do(t, "POST", "/api/fanout", `{"text": "-", "items": ["w", "x", "y", "z"]}`, "Content-Type", jsonCT))
	if b, _ := json.Marshal(got.Result["texts"]); string(b) != `[{"text":"W"},{"text":"X"},{"text":"Y"},{"text":"Z"}]` {
		t.Errorf("texts = %s; want the four items' replies in order", b)
	}
	if most := a.most.Load(); most > 2 {
		t.Errorf("calls in flight at once: %d; want at most the step's concurrency, 2", most)
	}
	if *got.Branches[3].Index != 3 {
		t.Errorf("last branch = %+v; want index 3", got.Branches[3])
	}

	before := a.calls.Load()
	r := g.do(t, "POST", "/api/fanout", `{"text": "-", "items": ["1", "2", "3", "4", "5"]}`, "Content-Type", jsonCT)
	if r.status != 422 || !strings.Contains(string(r.body), "at most 4") {
		t.Errorf("five items: got %d %s; want 422 naming the step's max_items", r.status, r.body)
	}
	if a.calls.Load() != before {
		t.Errorf("five items: %d calls made; want none", a.calls.Load()-before)
	}
}

func TestComposedCallFailures(t *testing.T) {
	g := newGatewayWith(t, composeContracts(t, false))
	serveBranch(t, g.ns, g.reg, "a", echoAs("a:"))

	tests := []struct {
		name, path string
		status     int
		typ        string
	}{
		{"the merged result breaks the response schema", "/api/broken", 502, "invalid-reply"},
		{"a branch request misses a member its contract requires", "/api/absent", 422, "invalid-request"},
		{"no worker serves a branch", "/api/all", 503, "no-worker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := g.do(t, "POST", tt.path, `{"text": "x"}`, "Content-Type", jsonCT)
			if r.status != tt.status {
				t.Fatalf("got %d; want %d (body %s)", r.status, tt.status, r.body)
			}
			if p := r.problem(t); p["type"] != "urn:notebridge:problem:"+tt.typ || p["branches"] == nil {
				t.Errorf("problem = %v; want %s with branches", p, tt.typ)
			}
		})
	}
}

func TestComposedContractIsListedWithTheContractsItCalls(t *testing.T) {
	g := newGatewayWith(t, composeContracts(t, false))
	g.serve(t, "a", []int{1}) // discovered as NATS micro services, as SDK workers are
	g.serve(t, "b", []int{1})
	r := g.do(t, "GET", "/api", "")
	var catalog struct {
		Contracts []struct {
			Name     string
			Versions []struct {
				Workers int
				Calls   []string
			}
		}
	}
	if err := json.Unmarshal(r.body, &catalog); err != nil {
		t.Fatal(err)
	}
	for _, c := range catalog.Contracts {
		switch c.Name {
		case "chain": // a and b serve it
			if v := c.Versions[0]; v.Workers != 1 || strings.Join(v.Calls, ",") != "a/v1,b/v1" {
				t.Errorf("chain = %+v; want workers 1, calls a/v1,b/v1", v)
			}
		case "all": // nobody serves c
			if v := c.Versions[0]; v.Workers != 0 {
				t.Errorf("all: workers = %d; want 0", v.Workers)
			}
		}
	}
}

// A composed job whose gateway stops half way is delivered again; the
// next gateway takes the finished branch from its checkpoint and calls
// only the other one again.
func TestComposedJobResumesWithoutCallingFinishedBranchesAgain(t *testing.T) {
	dir := composeContracts(t, true)
	ns := natstest.Server(t, embedded.Config{Port: -1, DataDir: t.TempDir()})
	reg, err := contracts.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := serveBranch(t, ns, reg, "a", echoAs("a:"))
	b := serveBranch(t, ns, reg, "b", func(text string, n int) answer {
		if n == 1 {
			return answer{text: "too late", pause: 3 * time.Second} // the first gateway stops meanwhile
		}
		return answer{text: "b:" + text}
	})

	first := startJobGateway(t, ns, reg)
	id := first.submit(t, "/api/pair/v1", `{"text": "x"}`)
	eventually(t, "a called and b under way", func() bool { return a.calls.Load() == 1 && b.calls.Load() == 1 })
	first.stop()

	second := startJobGateway(t, ns, reg)
	var rec jobView
	eventually(t, "the job succeeded", func() bool { rec = second.job(t, id); return rec.Status == "succeeded" })
	if a.calls.Load() != 1 || b.calls.Load() != 2 {
		t.Errorf("calls a, b = %d, %d; want 1, 2: the finished branch is not called again", a.calls.Load(), b.calls.Load())
	}
	var got composed
	if err := json.Unmarshal(rec.Result, &got); err != nil {
		t.Fatal(err)
	}
	if !got.Branches[0].Checkpointed || got.Branches[1].Checkpointed || got.Result["b"].(map[string]any)["text"] != "b:x" {
		t.Errorf("result = %s; want a from its checkpoint, b called again", rec.Result)
	}
	if rec.Attempts != 2 {
		t.Errorf("attempts = %d; want 2", rec.Attempts)
	}
}

// servingGateway is one gateway process with job mode on a shared server.
type servingGateway struct {
	*gateway
	svc *jobs.Service
}

func startJobGateway(t *testing.T, ns *server.Server, reg *contracts.Registry) *servingGateway {
	t.Helper()
	nc := natstest.Conn(t, ns)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	svc, err := jobs.Start(ctx, nc, reg, jobs.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	app, err := api.New(api.Config{Registry: reg, Conn: nc, Jobs: svc, BodyLimit: testBodyLimit, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	g := &servingGateway{gateway: &gateway{app: app, ns: ns, nc: nc, reg: reg}, svc: svc}
	t.Cleanup(g.stop)
	return g
}

func (g *servingGateway) stop() {
	if g.svc == nil {
		return
	}
	_ = g.app.Shutdown()
	g.svc.Stop()
	g.nc.Close()
	g.svc = nil
}

func (g *servingGateway) submit(t *testing.T, path, body string) string {
	t.Helper()
	r := g.do(t, "POST", path, body, "Content-Type", jsonCT)
	if r.status != 202 {
		t.Fatalf("POST %s: got %d; want 202 (body %s)", path, r.status, r.body)
	}
	var acc struct{ ID string }
	if err := json.Unmarshal(r.body, &acc); err != nil {
		t.Fatal(err)
	}
	return acc.ID
}

func (g *servingGateway) job(t *testing.T, id string) jobView {
	t.Helper()
	r := g.do(t, "GET", "/jobs/"+id, "")
	var v jobView
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("GET /jobs/%s: %d %s", id, r.status, r.body)
	}
	return v
}

// A reload (SIGHUP) that adds a composed job contract, or changes one,
// is followed by the gateway's composed-job runner: their jobs run, as
// the contracts are now.
func TestComposedJobsFollowAReload(t *testing.T) {
	dir := composeContracts(t, true)
	ns := natstest.Server(t, embedded.Config{Port: -1, DataDir: t.TempDir()})
	reg, err := contracts.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	serveBranch(t, ns, reg, "a", echoAs("a:"))
	serveBranch(t, ns, reg, "b", echoAs("b:"))
	g := startJobGateway(t, ns, reg)

	contracttest.WriteFile(t, filepath.Join(dir, "pair.v1.json"), strings.ReplaceAll(readFile(t, filepath.Join(dir, "pair.v1.json")), `"into": "/`, `"into": "/new_`))
	contracttest.WriteFile(t, filepath.Join(dir, "solo.v1.json"), `{"name": "solo", "version": 1, "mode": "job", "timeout_seconds": 3,
		"ack_wait_seconds": 1, "request_schema": "../schemas/text.json", "response_schema": "../schemas/any.json",
		"compose": {"steps": [{"name": "only", "call": "b/v1", "into": "/b"}]}, "examples": [{"name": "x", "request": {"text": "x"}}]}`)
	next, err := contracts.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	reg.Replace(next)

	for path, want := range map[string]string{
		"/api/pair/v1": `{"new_a":{"text":"a:x"},"new_b":{"text":"b:x"}}`,
		"/api/solo/v1": `{"b":{"text":"b:x"}}`,
	} {
		var rec jobView
		eventually(t, path+" succeeded", func() bool {
			rec = g.job(t, g.submit(t, path, `{"text": "x"}`))
			for i := 0; i < 100 && rec.Status != "succeeded" && rec.Status != "failed"; i++ {
				time.Sleep(20 * time.Millisecond)
				rec = g.job(t, rec.ID)
			}
			return rec.Status == "succeeded"
		})
		var got composed
		if err := json.Unmarshal(rec.Result, &got); err != nil {
			t.Fatal(err)
		}
		if b, _ := json.Marshal(got.Result); string(b) != want {
			t.Errorf("%s: result %s; want %s", path, b, want)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
