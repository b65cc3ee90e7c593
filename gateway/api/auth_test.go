package api_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/jobs"
	"github.com/notebridge/notebridge/gateway/keys"
)

// keyedGateway is a gateway with job mode that requires API keys, and the
// keys it issued: "all" may call everything, "echo" only echo/v1.
type keyedGateway struct {
	*jobGateway
	tokens map[string]string
	log    *lockedBuffer
}

func newKeyedGateway(t *testing.T, moreDirs ...string) *keyedGateway {
	t.Helper()
	log := &lockedBuffer{}
	dirs := append([]string{jobContracts(t), "../../testdata/contracts"}, moreDirs...)
	g := &jobGateway{dirs: dirs, dataDir: t.TempDir(), keyed: true, log: log}
	g.start(t)
	t.Cleanup(g.stop)
	js, err := jetstream.New(g.nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kv, err := keys.Bucket(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	kg := &keyedGateway{jobGateway: g, tokens: map[string]string{}, log: log}
	// "echo" comes last: the watch delivers the keys in order, so once the
	// gateway admits it, it knows the others too.
	issued := []struct {
		name   string
		grants []string
	}{{"all", []string{"*"}}, {"other", []string{"*"}}, {"limited", []string{"*"}}, {"acme", []string{"*"}}, {"echo", []string{"echo/v1"}}}
	for _, k := range issued {
		var opts []keys.Option
		switch k.name {
		case "limited": // two calls at once, then one every 100 s
			opts = append(opts, keys.WithRate(0.01, 2))
		case "acme":
			opts = append(opts, keys.WithTenant("acme"))
		}
		_, token, err := keys.Create(ctx, kv, k.name, k.grants, opts...)
		if err != nil {
			t.Fatal(err)
		}
		kg.tokens[k.name] = token
	}
	// The gateway's watch sees the keys within moments: until it has loaded
	// them it answers 503, then 401 until it has the last one (then 503
	// no-worker: no echo worker serves yet).
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := g.do(t, "POST", "/api/echo/v1", `{"text": "x"}`, "Content-Type", jsonCT, "Authorization", "Bearer "+kg.tokens["echo"])
		loading := r.status == 503 && strings.Contains(string(r.body), "keys are not loaded")
		if r.status != 401 && !loading {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the gateway does not admit a new key after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return kg
}

// key is the Authorization header of the named key, as a header pair.
func (g *keyedGateway) key(name string) []string {
	return []string{"Authorization", "Bearer " + g.tokens[name]}
}

// as makes the request with the named key ("" for none).
func (g *keyedGateway) as(t *testing.T, key, method, path, body string, headers ...string) response {
	t.Helper()
	if key != "" {
		headers = append(headers, g.key(key)...)
	}
	if body != "" {
		headers = append(headers, "Content-Type", jsonCT)
	}
	return g.do(t, method, path, body, headers...)
}

func TestKeysGuardCallsAndJobs(t *testing.T) {
	g := newKeyedGateway(t)
	g.serveEcho(t, []int{1})
	g.worker(t)
	revokedKey := "nb_0123456789ab_" + strings.Repeat("x", 43)

	tests := []struct {
		name, key, auth, method, path, body string
		status                              int
		problem                             string
	}{
		{"call without a key", "", "", "POST", "/api/echo/v1", `{"text": "hi"}`, 401, "unauthorized"},
		{"latest without a key", "", "", "POST", "/api/echo", `{"text": "hi"}`, 401, "unauthorized"},
		{"job without a key", "", "", "POST", "/api/steps/v1/jobs", `{"text": "hi"}`, 401, "unauthorized"},
		{"job record without a key", "", "", "GET", "/jobs/abc", "", 401, "unauthorized"},
		{"cancel without a key", "", "", "DELETE", "/jobs/abc", "", 401, "unauthorized"},
		{"unknown contract without a key", "", "", "POST", "/api/nope/v1", `{}`, 401, "unauthorized"},
		{"a key of no one", "", "Bearer " + revokedKey, "POST", "/api/echo/v1", `{"text": "hi"}`, 401, "unauthorized"},
		{"not a bearer", "", "Basic dXNlcjpwYXNz", "POST", "/api/echo/v1", `{"text": "hi"}`, 401, "unauthorized"},
		{"allowed", "echo", "", "POST", "/api/echo/v1", `{"text": "hi"}`, 200, ""},
		{"another version", "echo", "", "POST", "/api/echo/v2", `{"text": "hi"}`, 403, "forbidden"},
		{"another contract", "echo", "", "POST", "/api/steps/v1/jobs", `{"text": "hi"}`, 403, "forbidden"},
		{"unknown contract with a key", "echo", "", "POST", "/api/nope/v1", `{}`, 404, "not-found"},
		{"the catalog is open", "", "", "GET", "/api", "", 200, ""},
		{"describing is open", "", "", "GET", "/api/echo/v1", "", 200, ""},
		{"the document is open", "", "", "GET", "/openapi.json", "", 200, ""},
		{"the probes are open", "", "", "GET", "/readyz", "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.auth != "" {
				headers = []string{"Authorization", tt.auth}
			}
			r := g.as(t, tt.key, tt.method, tt.path, tt.body, headers...)
			if r.status != tt.status {
				t.Fatalf("got %d; want %d (body %s)", r.status, tt.status, r.body)
			}
			if tt.problem != "" {
				if p := r.problem(t); p["type"] != "urn:notebridge:problem:"+tt.problem {
					t.Errorf("got problem %v; want %s", p["type"], tt.problem)
				}
			}
			if got := r.header.Get("WWW-Authenticate"); (tt.status == 401) != (got == `Bearer realm="notebridge"`) {
				t.Errorf("WWW-Authenticate = %q on a %d", got, tt.status)
			}
		})
	}

	// The access log names the key, never its secret.
	log := string(g.log.take())
	if !strings.Contains(log, "key=echo") {
		t.Errorf("the access log does not name the key:\n%s", log)
	}
	for name, token := range g.tokens {
		if strings.Contains(log, token[len(token)-43:]) {
			t.Errorf("the log holds key %s's secret", name)
		}
	}
}

func TestJobsBelongToTheirKey(t *testing.T) {
	g := newKeyedGateway(t)
	g.worker(t)

	submit := func(key, body string, headers ...string) string {
		t.Helper()
		return g.submit(t, "/api/steps/v1/jobs", body, append(g.key(key), headers...)...)
	}
	id := submit("all", `{"text": "mine", "steps": 40, "step_ms": 50}`)

	for _, method := range []string{"GET", "DELETE"} {
		if r := g.as(t, "other", method, "/jobs/"+id, ""); r.status != 404 {
			t.Errorf("%s another key's job: got %d; want 404 (body %s)", method, r.status, r.body)
		}
	}
	if r := g.as(t, "all", "GET", "/jobs/"+id, ""); r.status != 200 || strings.Contains(string(r.body), "owner") {
		t.Errorf("GET its own job: got %d %s; want 200, without the owner", r.status, r.body)
	}
	// The other key's DELETE changed nothing: the job runs on, and its owner cancels it.
	if r := g.as(t, "all", "DELETE", "/jobs/"+id, ""); r.status != 200 || !strings.Contains(string(r.body), `"cancelled"`) {
		t.Errorf("DELETE its own job: got %d %s; want 200, cancelled", r.status, r.body)
	}

	// An Idempotency-Key is the key's own: the same one from another key makes another job.
	first := submit("all", `{"text": "once"}`, "Idempotency-Key", "order-7")
	second := submit("other", `{"text": "once"}`, "Idempotency-Key", "order-7")
	again := submit("all", `{"text": "once"}`, "Idempotency-Key", "order-7")
	if first == second || first != again {
		t.Errorf("ids %s (all), %s (other), %s (all again); want other's its own, all's replayed", first, second, again)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := g.as(t, "all", "GET", "/jobs/"+first, "")
		var v jobView
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Fatal(err)
		}
		if v.Status == string(jobs.Succeeded) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s after 20 s; want succeeded", first, v.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// With keys, the document declares the scheme and the 401 and 403 of the
// routes that need one, and only those.
func TestOpenAPIDeclaresKeys(t *testing.T) {
	g := newKeyedGateway(t)
	doc, _ := openAPIDoc(t, g.gateway)
	scheme := resolve(t, doc, "#/components/securitySchemes/apiKey").(map[string]any)
	if scheme["type"] != "http" || scheme["scheme"] != "bearer" {
		t.Errorf("apiKey scheme = %v; want http bearer", scheme)
	}
	tests := []struct {
		pointer string
		keyed   bool
	}{
		{"#/paths/~1api~1echo~1v1/post", true},
		{"#/paths/~1api~1steps~1v1~1jobs/post", true},
		{"#/paths/~1jobs~1{id}/get", true},
		{"#/paths/~1jobs~1{id}/delete", true},
		{"#/paths/~1api~1echo~1v1/get", false},
		{"#/paths/~1api/get", false},
		{"#/paths/~1healthz/get", false},
	}
	for _, tt := range tests {
		op := resolve(t, doc, tt.pointer).(map[string]any)
		_, has401 := op["responses"].(map[string]any)["401"]
		if _, secured := op["security"]; secured != tt.keyed || has401 != tt.keyed {
			t.Errorf("%s: security %v, 401 %v; want both %v", tt.pointer, op["security"], has401, tt.keyed)
		}
	}
}

func TestRateLimitedKey(t *testing.T) {
	g := newKeyedGateway(t)
	g.serveEcho(t, []int{1})
	for i, want := range []string{`"key";r=1;t=100`, `"key";r=0;t=200`} {
		r := g.as(t, "limited", "POST", "/api/echo/v1", `{"text": "hi"}`)
		if r.status != 200 || r.header.Get("RateLimit") != want || r.header.Get("RateLimit-Policy") != `"key";q=2;w=200` {
			t.Errorf("call %d: got %d, RateLimit %q, RateLimit-Policy %q; want 200, %s, \"key\";q=2;w=200",
				i+1, r.status, r.header.Get("RateLimit"), r.header.Get("RateLimit-Policy"), want)
		}
	}
	r := g.as(t, "limited", "POST", "/api/echo/v1", `{"text": "hi"}`)
	if p := r.problem(t); r.status != 429 || p["type"] != "urn:notebridge:problem:rate-limited" {
		t.Fatalf("the third call: got %d %v; want 429 rate-limited", r.status, p)
	}
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 99 || ra > 100 {
		t.Errorf("Retry-After = %q; want about 100 s", r.header.Get("Retry-After"))
	}
	// Another key is not touched by it.
	if r := g.as(t, "all", "POST", "/api/echo/v1", `{"text": "hi"}`); r.status != 200 || r.header.Get("RateLimit") != "" {
		t.Errorf("a key without a rate: got %d, RateLimit %q; want 200 and no header", r.status, r.header.Get("RateLimit"))
	}
}

func TestListJobsOfTheKey(t *testing.T) {
	g := newKeyedGateway(t)
	submit := func(key, body string, headers ...string) string {
		t.Helper()
		return g.submit(t, "/api/steps/v1/jobs", body, append(g.key(key), headers...)...)
	}
	var mine []string
	for _, text := range []string{"first", "second", "third"} {
		mine = append(mine, submit("all", `{"text": "`+text+`"}`))
		time.Sleep(2 * time.Millisecond) // distinct creation times: the list is newest first
	}
	theirs := submit("other", `{"text": "not yours"}`)
	if r := g.as(t, "all", "DELETE", "/jobs/"+mine[0], ""); r.status != 200 {
		t.Fatalf("cancelling: got %d", r.status)
	}

	type page struct {
		Jobs []struct{ ID, Status, Contract string }
		Next string
	}
	list := func(key, query string) (page, response) {
		t.Helper()
		r := g.as(t, key, "GET", "/jobs"+query, "")
		var p page
		if r.status == 200 {
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatal(err)
			}
		}
		return p, r
	}
	ids := func(p page) []string {
		var out []string
		for _, j := range p.Jobs {
			out = append(out, j.ID)
		}
		return out
	}

	all, r := list("all", "")
	if r.status != 200 || strings.Join(ids(all), ",") != strings.Join([]string{mine[2], mine[1], mine[0]}, ",") || all.Next != "" {
		t.Errorf("GET /jobs: got %d %s; want the key's three jobs, newest first, one page", r.status, r.body)
	}
	first, _ := list("all", "?limit=2")
	second, _ := list("all", "?limit=2&cursor="+first.Next)
	if len(first.Jobs) != 2 || first.Next == "" || len(second.Jobs) != 1 || second.Jobs[0].ID != mine[0] || second.Next != "" {
		t.Errorf("pages of 2: %v (next %q), then %v (next %q); want 2, then the oldest", ids(first), first.Next, ids(second), second.Next)
	}
	if cancelled, _ := list("all", "?status=cancelled"); strings.Join(ids(cancelled), ",") != mine[0] {
		t.Errorf("?status=cancelled: %v; want %s", ids(cancelled), mine[0])
	}
	if steps, _ := list("all", "?contract=steps/v1&limit=100"); len(steps.Jobs) != 3 {
		t.Errorf("?contract=steps/v1: %d jobs; want 3", len(steps.Jobs))
	}
	if other, _ := list("other", ""); strings.Join(ids(other), ",") != theirs {
		t.Errorf("the other key's list: %v; want only its own %s", ids(other), theirs)
	}
	for _, query := range []string{"?limit=0", "?limit=101", "?status=done", "?contract=nope", "?cursor=***", "?cursor=b3du"} {
		if _, r := list("all", query); r.status != 400 || r.problem(t)["type"] != "urn:notebridge:problem:invalid-query" {
			t.Errorf("GET /jobs%s: got %d %s; want 400 invalid-query", query, r.status, r.body)
		}
	}
	if _, r := list("other", "?cursor="+first.Next); r.status != 400 {
		t.Errorf("another key's cursor: got %d; want 400", r.status)
	}
	if _, r := list("", ""); r.status != 401 {
		t.Errorf("GET /jobs without a key: got %d; want 401", r.status)
	}
}
