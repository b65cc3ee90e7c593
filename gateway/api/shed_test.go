package api_test

import (
	"sync"
	"testing"

	"github.com/notebridge/notebridge/gateway/api"
)

// newBoundedGateway is a gateway that serves at most perContract calls of
// a contract version at once, and total in all.
func newBoundedGateway(t *testing.T, total, perContract int) *gateway {
	t.Helper()
	return newGatewayConfigured(t, func(cfg *api.Config) { cfg.MaxInflight, cfg.MaxInflightPerContract = total, perContract })
}

// Ten times the calls the gateway may serve at once, all together: those
// admitted succeed within their deadline, the rest are refused at once
// with 503 overloaded and Retry-After; none times out.
func TestOverloadDegradesIntoFastRefusals(t *testing.T) {
	const bound = 4
	g := newBoundedGateway(t, 1000, bound)
	g.serveEcho(t, []int{1})

	statuses := make(chan response, 10*bound)
	var wg sync.WaitGroup
	for range 10 * bound {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- g.do(t, "POST", "/api/echo/v1", `{"text": "busy", "sleep_ms": 500}`, "Content-Type", jsonCT, "Request-Timeout", "3")
		}()
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for r := range statuses {
		counts[r.status]++
		if r.status == 503 {
			p := r.problem(t)
			if p["type"] != "urn:notebridge:problem:overloaded" || r.header.Get("Retry-After") != "1" {
				t.Errorf("a refusal: %v, Retry-After %q; want overloaded, Retry-After 1", p, r.header.Get("Retry-After"))
			}
		}
	}
	if counts[200] < 1 || counts[200] > bound || counts[503] != 10*bound-counts[200] {
		t.Errorf("statuses %v; want at most %d 200s, every other call 503, none 504", counts, bound)
	}
	// Once the load is gone, calls are admitted again.
	if r := g.do(t, "POST", "/api/echo/v1", `{"text": "calm"}`, "Content-Type", jsonCT); r.status != 200 {
		t.Errorf("a call after the burst: got %d; want 200 (body %s)", r.status, r.body)
	}
	shed := samples(t, g)[sample("notebridge_shed_requests_total", "contract", "echo", "version", "1", "reason", "contract_limit")]
	if int(shed) != counts[503] {
		t.Errorf("notebridge_shed_requests_total = %v; want the %d refusals", shed, counts[503])
	}
}

func TestGatewayWideBound(t *testing.T) {
	g := newBoundedGateway(t, 2, 100)
	g.serveEcho(t, []int{1})
	var wg sync.WaitGroup
	results := make(chan int, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- g.do(t, "POST", "/api/echo/v1", `{"text": "x", "sleep_ms": 500}`, "Content-Type", jsonCT).status
		}()
	}
	wg.Wait()
	close(results)
	counts := map[int]int{}
	for s := range results {
		counts[s]++
	}
	if counts[200] > 2 || counts[503] < 4 {
		t.Errorf("statuses %v; want at most 2 served at once, the rest 503", counts)
	}
}

// A call whose deadline is shorter than the contract's calls take is shed
// at once instead of timing out.
func TestCallsThatCannotMeetTheirDeadlineAreShed(t *testing.T) {
	g := newBoundedGateway(t, 100, 100)
	g.serveEcho(t, []int{1})
	for range 12 { // calls of about 300 ms teach the gateway how long they take
		if r := g.do(t, "POST", "/api/echo/v1", `{"text": "x", "sleep_ms": 300}`, "Content-Type", jsonCT); r.status != 200 {
			t.Fatalf("got %d; want 200", r.status)
		}
	}
	r := g.do(t, "POST", "/api/echo/v1", `{"text": "x", "sleep_ms": 300}`, "Content-Type", jsonCT, "Request-Timeout", "0.05")
	if p := r.problem(t); r.status != 503 || p["type"] != "urn:notebridge:problem:overloaded" {
		t.Errorf("a call with a 50 ms deadline: got %d %v; want 503 overloaded", r.status, p)
	}
	if r := g.do(t, "POST", "/api/echo/v1", `{"text": "x"}`, "Content-Type", jsonCT, "Request-Timeout", "2"); r.status != 200 {
		t.Errorf("a call with time to spare: got %d; want 200", r.status)
	}
}
