package api_test

import (
	"bufio"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/notebridge/notebridge/gateway/jobs"
)

// samples reads GET /metrics: each sample's value by its name and sorted
// labels, as `name{a="1",b="2"}`.
func samples(t *testing.T, g *gateway) map[string]float64 {
	t.Helper()
	r := g.do(t, "GET", "/metrics", "")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: got %d %s; want 200 text/plain", r.status, r.header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(r.body)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// sample names a sample: name and label pairs, sorted as the exposition
// format writes them.
func sample(name string, labels ...string) string {
	var pairs []string
	for i := 0; i+1 < len(labels); i += 2 {
		pairs = append(pairs, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
	}
	sort.Strings(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

func TestMetricsCountWhatClientsSee(t *testing.T) {
	g := newGateway(t)
	g.serveEcho(t, []int{1})
	g.serve(t, "tokens", []int{1})
	base := g.listen(t)

	post := func(path, body string, headers ...string) {
		t.Helper()
		g.do(t, "POST", path, body, append([]string{"Content-Type", jsonCT, "X-Request-Id", "req-never-a-label"}, headers...)...)
	}
	for range 3 {
		post("/api/echo/v1", `{"text": "ok"}`)
	}
	post("/api/echo/v1", `{"text": 5}`)                                               // 422
	post("/api/echo/v1", `{"text": "x", "behavior": "bad_reply"}`)                    // 502 invalid-reply
	post("/api/echo/v2", `{"text": "x"}`)                                             // 503 no-worker
	post("/api/echo/v1", `{"text": "x", "sleep_ms": 2000}`, "Request-Timeout", "0.2") // 504
	post("/api/nope/v1", `{}`)                                                        // 404: no contract, no label
	resp := openSSE(t, base+"/api/tokens/v1", `{"text": "a b c"}`)
	_, _ = bufio.NewReader(resp.Body).ReadString(0) // the whole stream
	resp.Body.Close()

	var got map[string]float64
	// A stream records its end when its writer finishes, just after the client read it.
	deadline := time.Now().Add(5 * time.Second)
	for got = samples(t, g); got[sample("notebridge_request_duration_seconds_count", "contract", "tokens", "version", "1")] != 1; got = samples(t, g) {
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	tests := []struct {
		sample string
		want   float64
	}{
		{sample("notebridge_requests_total", "contract", "echo", "version", "1", "status_class", "2xx"), 3},
		{sample("notebridge_requests_total", "contract", "echo", "version", "1", "status_class", "4xx"), 1},
		{sample("notebridge_requests_total", "contract", "echo", "version", "1", "status_class", "5xx"), 2},
		{sample("notebridge_requests_total", "contract", "echo", "version", "2", "status_class", "5xx"), 1},
		{sample("notebridge_requests_total", "contract", "tokens", "version", "1", "status_class", "2xx"), 1},
		{sample("notebridge_validation_failures_total", "contract", "echo", "version", "1", "side", "request"), 1},
		{sample("notebridge_validation_failures_total", "contract", "echo", "version", "1", "side", "reply"), 1},
		{sample("notebridge_no_responders_total", "contract", "echo", "version", "2"), 1},
		{sample("notebridge_timeouts_total", "contract", "echo", "version", "1"), 1},
		{sample("notebridge_request_duration_seconds_count", "contract", "echo", "version", "1"), 5},
		{sample("notebridge_gateway_duration_seconds_count", "contract", "echo", "version", "1"), 5},
		{sample("notebridge_stream_first_chunk_seconds_count", "contract", "tokens", "version", "1"), 1},
		{sample("notebridge_request_duration_seconds_count", "contract", "tokens", "version", "1"), 1},
		{`notebridge_request_duration_seconds_bucket{contract="echo",version="1",le="600"}`, 5}, // buckets reach minutes
		{sample("notebridge_inflight_requests", "contract", "echo", "version", "1"), 0},
		{sample("notebridge_inflight_requests", "contract", "tokens", "version", "1"), 0},
		{"notebridge_nats_connected", 1},
	}
	for _, tt := range tests {
		if v, ok := got[tt.sample]; !ok || v != tt.want {
			t.Errorf("%s = %v (present %v); want %v", tt.sample, v, ok, tt.want)
		}
	}
	for s := range got {
		if strings.Contains(s, "req-never-a-label") || strings.Contains(s, `contract="nope"`) {
			t.Errorf("sample %s has a label value a client chose", s)
		}
	}
}

// A call being served shows in the in-flight gauge, which autoscalers read.
func TestMetricsShowCallsInFlight(t *testing.T) {
	g := newGateway(t)
	g.serveEcho(t, []int{1})
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.do(t, "POST", "/api/echo/v1", `{"text": "slow", "sleep_ms": 1500}`, "Content-Type", jsonCT)
	}()
	inflight := sample("notebridge_inflight_requests", "contract", "echo", "version", "1")
	deadline := time.Now().Add(5 * time.Second)
	for samples(t, g)[inflight] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%s never 1 while a call was served", inflight)
		}
		time.Sleep(10 * time.Millisecond)
	}
	<-done
	if v := samples(t, g)[inflight]; v != 0 {
		t.Errorf("%s = %v after the call; want 0", inflight, v)
	}
}

// The job queue's depth is the pending count of its consumer.
func TestMetricsShowJobQueueDepth(t *testing.T) {
	g := newJobGateway(t, jobs.Config{})
	for range 3 {
		g.submit(t, "/api/steps/v1/jobs", `{"text": "waiting"}`)
	}
	pending := sample("notebridge_job_queue_pending", "contract", "steps", "version", "1")
	if v := samples(t, g.gateway)[pending]; v != 3 {
		t.Errorf("%s = %v with 3 jobs and no worker; want 3", pending, v)
	}
}
