package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/notebridge/notebridge/gateway/internal/refworker"
	"github.com/notebridge/notebridge/gateway/jobs"
	"github.com/notebridge/notebridge/gateway/wire"
)

func TestJobSubmitAndPoll(t *testing.T) {
	t.Parallel()
	g := newJobGateway(t, jobs.Config{})
	g.worker(t)
	tests := []struct {
		name, path string
	}{
		{"latest", "/api/steps"},
		{"version", "/api/steps/v1"},
		{"jobs route", "/api/steps/v1/jobs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requestID := "submit-" + strings.ReplaceAll(tt.name, " ", "-")
			r := g.do(t, "POST", tt.path, `{"text": "hi", "steps": 2, "step_ms": 5}`, "Content-Type", jsonCT, "X-Request-Id", requestID)
			if r.status != 202 {
				t.Fatalf("got %d; want 202 (body %s)", r.status, r.body)
			}
			var acc map[string]string
			if err := json.Unmarshal(r.body, &acc); err != nil {
				t.Fatal(err)
			}
			id := acc["id"]
			want := map[string]string{"id": id, "status": "queued", "href": "/jobs/" + id}
			if fmt.Sprint(acc) != fmt.Sprint(want) || len(id) != 22 {
				t.Errorf("body = %v; want %v with a 22-character id", acc, want)
			}
			if loc := r.header.Get("Location"); loc != "/jobs/"+id {
				t.Errorf("Location = %q; want /jobs/%s", loc, id)
			}
			if r.header.Get("Idempotent-Replayed") != "" {
				t.Errorf("Idempotent-Replayed = %q on a first submission; want none", r.header.Get("Idempotent-Replayed"))
			}
			v := g.waitFinal(t, id)
			if v.Status != "succeeded" || string(v.Result) != `{"text":"hi","attempt":1}` || v.Error != nil {
				t.Errorf("got status %s, result %s, error %v; want succeeded, {\"text\":\"hi\",\"attempt\":1}, none", v.Status, v.Result, v.Error)
			}
			if v.Progress == nil || v.Progress.Fraction != 1 || v.Progress.Message != "step 2 of 2" {
				t.Errorf("progress = %+v; want fraction 1, step 2 of 2", v.Progress)
			}
			if v.Contract != "steps/v1" || v.Attempts != 1 || v.RequestID != requestID || v.UpdatedAt.Before(v.CreatedAt) {
				t.Errorf("got contract %s, attempts %d, request id %s, created %s, updated %s; want steps/v1, 1, %s, updated after created",
					v.Contract, v.Attempts, v.RequestID, v.CreatedAt, v.UpdatedAt, requestID)
			}
		})
	}
	g.waitStreamEmpty(t, wire.JobStream)
}

func TestJobRequestsRefused(t *testing.T) {
	t.Parallel()
	g := newJobGateway(t, jobs.Config{})
	tests := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		problem, mention         string
	}{
		{"jobs route of a sync contract", "POST", "/api/echo/v1/jobs", `{"text": "x"}`, nil, 404, "not-found", "sync contract"},
		{"unknown contract", "POST", "/api/nope/v1/jobs", `{}`, nil, 404, "not-found", "nope"},
		{"request breaks the schema", "POST", "/api/steps/v1/jobs", `{"text": 1}`, nil, 422, "invalid-request", "steps/v1"},
		{"not JSON", "POST", "/api/steps", `{"text"`, nil, 400, "malformed-json", ""},
		{"not a JSON content type", "POST", "/api/steps", `{"text": "x"}`, []string{"Content-Type", "text/plain"}, 415, "unsupported-media-type", ""},
		{"callback host not allowed", "POST", "/api/steps", `{"text": "x"}`, []string{"Callback-Url", "https://hooks.example.com/x"}, 422, "callback-not-allowed", "hooks.example.com"},
		{"callback not http", "POST", "/api/steps", `{"text": "x"}`, []string{"Callback-Url", "ftp://hooks.example.com/x"}, 400, "invalid-header", "Callback-Url"},
		{"callback not absolute", "POST", "/api/steps", `{"text": "x"}`, []string{"Callback-Url", "/hook"}, 400, "invalid-header", "Callback-Url"},
		{"idempotency key with a space", "POST", "/api/steps", `{"text": "x"}`, []string{"Idempotency-Key", "a b"}, 400, "invalid-header", "Idempotency-Key"},
		{"idempotency key too long", "POST", "/api/steps", `{"text": "x"}`, []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400, "invalid-header", "Idempotency-Key"},
		{"unknown job", "GET", "/jobs/NoSuchJob0000000000000", "", nil, 404, "not-found", "NoSuchJob0000000000000"},
		{"job id that cannot be one", "GET", "/jobs/bad.id", "", nil, 404, "not-found", "bad.id"},
		{"cancel an unknown job", "DELETE", "/jobs/NoSuchJob0000000000000", "", nil, 404, "not-found", "expired"},
		{"wrong method on a job", "PUT", "/jobs/x", "", nil, 405, "method-not-allowed", "GET, DELETE"},
		{"wrong method on the jobs route", "GET", "/api/steps/v1/jobs", "", nil, 405, "method-not-allowed", "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := g.do(t, tt.method, tt.path, tt.body, append([]string{"Content-Type", jsonCT}, tt.headers...)...)
			if r.status != tt.status {
				t.Fatalf("got %d; want %d (body %s)", r.status, tt.status, r.body)
			}
			p := r.problem(t)
			if p["type"] != "urn:notebridge:problem:"+tt.problem {
				t.Errorf("type = %v; want %s", p["type"], tt.problem)
			}
			if !strings.Contains(fmt.Sprint(p["detail"]), tt.mention) {
				t.Errorf("detail %q does not mention %q", p["detail"], tt.mention)
			}
		})
	}
	if n := g.streamMsgs(t, wire.JobStream); n != 0 {
		t.Errorf("the job stream holds %d message(s) after refused submissions; want 0", n)
	}
}

func TestJobIdempotency(t *testing.T) {
	t.Parallel()
	g := newJobGateway(t, jobs.Config{}) // no worker: the jobs stay queued
	body := `{"text": "once", "steps": 1}`
	first := g.submit(t, "/api/steps/v1/jobs", body, "Idempotency-Key", "order-42")
	tests := []struct {
		name, path, body, key string
		status                int
		sameJob               bool
		problem               string
	}{
		{"same key, same body", "/api/steps/v1/jobs", body, "order-42", 202, true, ""},
		{"same key, same body, other route to the same contract", "/api/steps", body, "order-42", 202, true, ""},
		{"same key, other body", "/api/steps/v1/jobs", `{"text": "twice", "steps": 1}`, "order-42", 422, false, "idempotency-key-reused"},
		{"same key, same JSON spelled otherwise", "/api/steps/v1/jobs", "{\"steps\":1.0,\n \"text\":\"\\u006fnce\"} ", "order-42", 202, true, ""},
		{"same key, other number", "/api/steps/v1/jobs", `{"text": "once", "steps": 1e1}`, "order-42", 422, false, "idempotency-key-reused"},
		{"other key, same body", "/api/steps/v1/jobs", body, "order-43", 202, false, ""},
		{"no key, same body", "/api/steps/v1/jobs", body, "", 202, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := []string{"Content-Type", jsonCT}
			if tt.key != "" {
				headers = append(headers, "Idempotency-Key", tt.key)
			}
			r := g.do(t, "POST", tt.path, tt.body, headers...)
			if r.status != tt.status {
				t.Fatalf("got %d; want %d (body %s)", r.status, tt.status, r.body)
			}
			if tt.status != 202 {
				if p := r.problem(t); p["type"] != "urn:notebridge:problem:"+tt.problem {
					t.Errorf("type = %v; want %s", p["type"], tt.problem)
				}
				return
			}
			var acc struct{ ID, Status string }
			if err := json.Unmarshal(r.body, &acc); err != nil {
				t.Fatal(err)
			}
			if (acc.ID == first) != tt.sameJob {
				t.Errorf("id = %s, first = %s; want same job = %v", acc.ID, first, tt.sameJob)
			}
			if replayed := r.header.Get("Idempotent-Replayed") == "true"; replayed != tt.sameJob {
				t.Errorf("Idempotent-Replayed = %q; want it set = %v", r.header.Get("Idempotent-Replayed"), tt.sameJob)
			}
		})
	}
	// Three distinct jobs were made: the first, order-43, and the one
	// without a key. JetStream dropped the replays' copies of the first.
	if n := g.streamMsgs(t, wire.JobStream); n != 3 {
		t.Errorf("the job stream holds %d message(s); want 3", n)
	}
	g.worker(t)
	if v := g.waitFinal(t, first); v.Status != "succeeded" || v.Attempts != 1 {
		t.Errorf("first job: got %s after %d attempt(s); want succeeded after 1", v.Status, v.Attempts)
	}
	g.waitStreamEmpty(t, wire.JobStream)
}

func TestJobCancel(t *testing.T) {
	t.Parallel()
	g := newJobGateway(t, jobs.Config{})

	var stopped []string
	t.Run("queued", func(t *testing.T) {
		id := g.submit(t, "/api/steps", `{"text": "never"}`) // no worker yet
		stopped = append(stopped, id)
		for range 2 { // cancelling a cancelled job changes nothing
			r := g.do(t, "DELETE", "/jobs/"+id, "")
			var v jobView
			if err := json.Unmarshal(r.body, &v); err != nil || r.status != 200 || v.Status != "cancelled" {
				t.Fatalf("got %d %s; want 200 with status cancelled", r.status, r.body)
			}
		}
	})

	cancelled := make(chan string, 1)
	started := make(chan string, 1)
	g.worker(t, refworker.WithJobCancelled(func(id string) { cancelled <- id }),
		refworker.WithJobStarted(func(id string, _ int) { started <- id }))

	t.Run("running", func(t *testing.T) {
		id := g.submit(t, "/api/steps", `{"text": "long", "steps": 1000, "step_ms": 20}`)
		stopped = append(stopped, id)
		if got := <-started; got != id {
			t.Fatalf("worker started %s; want %s", got, id)
		}
		r := g.do(t, "DELETE", "/jobs/"+id, "")
		if r.status != 200 || !strings.Contains(string(r.body), `"status":"cancelled"`) {
			t.Fatalf("got %d %s; want 200 with status cancelled", r.status, r.body)
		}
		select {
		case got := <-cancelled:
			if got != id {
				t.Errorf("worker was told to stop %s; want %s", got, id)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the worker was never told to stop")
		}
	})

	t.Run("finished", func(t *testing.T) {
		id := g.submit(t, "/api/steps", `{"text": "quick"}`)
		<-started
		g.waitFinal(t, id)
		r := g.do(t, "DELETE", "/jobs/"+id, "")
		if r.status != 409 {
			t.Fatalf("got %d; want 409 (body %s)", r.status, r.body)
		}
		if p := r.problem(t); p["type"] != "urn:notebridge:problem:job-finished" || p["job"] != id {
			t.Errorf("got type %v, job %v; want job-finished, %s", p["type"], p["job"], id)
		}
	})

	// The worker acknowledged the running job it stopped and the queued
	// one it found cancelled, and wrote neither record after that.
	g.waitStreamEmpty(t, wire.JobStream)
	for _, id := range stopped {
		if v, body := g.job(t, id); v.Status != "cancelled" || v.Result != nil {
			t.Errorf("job %s: got %s; want it cancelled, without a result", id, body)
		}
	}
}

func TestJobWorkerKilledMidJobIsRedelivered(t *testing.T) {
	t.Parallel()
	g := newJobGateway(t, jobs.Config{})
	// Worker A holds every job it starts until it is killed, so that it
	// dies mid-job for sure: its connection closes, nothing is acknowledged.
	startedOnA := make(chan string, 16)
	killed := make(chan struct{})
	connA := g.worker(t, refworker.WithJobStarted(func(id string, _ int) {
		startedOnA <- id
		<-killed
	}))
	const n = 6
	accepted := map[string]bool{}
	for i := range n {
		accepted[g.submit(t, "/api/steps", fmt.Sprintf(`{"text": "job %d", "steps": 3, "step_ms": 10}`, i))] = true
	}
	diedWith := <-startedOnA
	connA.Close()
	close(killed)
	g.worker(t) // worker B

	finished := 0
	for id := range accepted {
		v := g.waitFinal(t, id)
		if v.Status != "succeeded" {
			t.Errorf("job %s: got %s (error %v); want succeeded", id, v.Status, v.Error)
			continue
		}
		finished++
		if id == diedWith && (v.Attempts < 2 || !strings.Contains(string(v.Result), `"attempt":2`)) {
			t.Errorf("job %s, whose worker died: got %d attempt(s), result %s; want a second attempt to produce it", id, v.Attempts, v.Result)
		}
	}
	if finished != len(accepted) {
		t.Errorf("%d job(s) finished; want every accepted one, %d", finished, len(accepted))
	}
	g.waitStreamEmpty(t, wire.JobStream)
}

func TestJobMaxDeliveries(t *testing.T) {
	t.Parallel()
	g := newJobGateway(t, jobs.Config{})
	g.worker(t)
	tests := []struct {
		name, body string
		code, msg  string
	}{
		{"every attempt fails: the worker fails the job", `{"text": "x", "fail_on": [1, 2, 3]}`, "job_failed", "asked to fail on attempt 3"},
		{"the last attempt dies: the gateway fails the job with the last error", `{"text": "x", "fail_on": [1, 2], "die_on": [3]}`, "job_failed", "asked to fail on attempt 2"},
		{"every attempt dies", `{"text": "x", "die_on": [1, 2, 3]}`, jobs.CodeWorkerLost, "3 attempt(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := g.waitFinal(t, g.submit(t, "/api/steps", tt.body))
			if v.Status != "failed" || v.Attempts != 3 || v.Error == nil || v.Error.Code != tt.code || !strings.Contains(v.Error.Message, tt.msg) {
				t.Errorf("got %s after %d attempt(s), error %+v; want failed after 3, %s mentioning %q", v.Status, v.Attempts, v.Error, tt.code, tt.msg)
			}
			if v.Result != nil {
				t.Errorf("result = %s; want none", v.Result)
			}
		})
	}
	t.Cleanup(func() { g.waitStreamEmpty(t, wire.JobStream) })
}

func TestJobResultsOutliveRestart(t *testing.T) {
	t.Parallel()
	g := newJobGateway(t, jobs.Config{})
	stop := g.worker(t)
	id := g.submit(t, "/api/steps", `{"text": "durable", "steps": 1}`, "Idempotency-Key", "restart-1")
	before := g.waitFinal(t, id)
	stop.Close()

	g.restart(t)
	after, body := g.job(t, id)
	if after.Status != "succeeded" || string(after.Result) != string(before.Result) || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("after a restart: got %s; want the record as before: %+v", body, before)
	}
	r := g.do(t, "POST", "/api/steps", `{"text": "durable", "steps": 1}`, "Content-Type", jsonCT, "Idempotency-Key", "restart-1")
	if r.status != 202 || !strings.Contains(string(r.body), id) || r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay after a restart: got %d %s; want 202 naming %s, replayed", r.status, r.body, id)
	}
}

func TestJobContractDescribed(t *testing.T) {
	t.Parallel()
	g := newJobGateway(t, jobs.Config{})
	r := g.do(t, "GET", "/api/steps/v1", "")
	var d map[string]any
	if err := json.Unmarshal(r.body, &d); err != nil || r.status != 200 {
		t.Fatalf("got %d %s; want 200 JSON", r.status, r.body)
	}
	want := map[string]any{"mode": "job", "subject": "nb.jobs.steps.v1", "max_attempts": 3.0, "ack_wait_seconds": 1.0, "timeout_seconds": 30.0}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %v; want %v", k, d[k], v)
		}
	}
}

func TestCatalogCountsJobWorkers(t *testing.T) {
	t.Parallel()
	g := newJobGateway(t, jobs.Config{})
	workers := func() int {
		t.Helper()
		r := g.do(t, "GET", "/api", "")
		var cat struct {
			Contracts []struct {
				Name     string `json:"name"`
				Versions []struct {
					Workers        int `json:"workers"`
					DriftedWorkers int `json:"drifted_workers"`
				} `json:"versions"`
			} `json:"contracts"`
		}
		if err := json.Unmarshal(r.body, &cat); err != nil {
			t.Fatal(err)
		}
		for _, c := range cat.Contracts {
			if c.Name == "steps" {
				if c.Versions[0].DriftedWorkers != 0 {
					t.Errorf("got %d drifted workers; want 0", c.Versions[0].DriftedWorkers)
				}
				return c.Versions[0].Workers
			}
		}
		t.Fatalf("catalog %s has no steps contract", r.body)
		return 0
	}
	if got := workers(); got != 0 {
		t.Fatalf("before any worker: got %d workers; want 0", got)
	}
	first := g.worker(t)
	g.worker(t)
	if got := workers(); got != 2 {
		t.Fatalf("with two job workers: got %d workers; want 2", got)
	}
	// The process is gone: so is its service, once the server has seen the
	// connection close, which it learns after Close returns.
	first.Close()
	for deadline := time.Now().Add(5 * time.Second); workers() != 1 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if got := workers(); got != 1 {
		t.Fatalf("after one left: got %d workers; want 1", got)
	}
}
