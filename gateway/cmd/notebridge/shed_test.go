package main

import (
	"strings"
	"sync"
	"testing"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/embedded"
	"github.com/notebridge/notebridge/gateway/internal/natstest"
	"github.com/notebridge/notebridge/gateway/internal/refworker"
)

// The gateway binary with -max-inflight-per-contract 2 serves two slow
// calls at once and refuses the others at once with 503 overloaded.
func TestServeShedsPastTheInflightBound(t *testing.T) {
	t.Parallel()
	ns := natstest.Server(t, embedded.Config{Port: -1})
	reg, err := contracts.Load("../../../testdata/contracts")
	if err != nil {
		t.Fatal(err)
	}
	echo, err := reg.Lookup("echo", 1)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := refworker.Start(natstest.Conn(t, ns), []*contracts.Contract{echo})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	p := startGateway(t, "-nats-url", ns.ClientURL(), "-contracts-dir", "../../../testdata/contracts", "-max-inflight-per-contract", "2")
	base := p.listening(t)

	var wg sync.WaitGroup
	answers := make(chan answer, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers <- call(t, "POST", base+"/api/echo/v1", `{"text": "slow", "sleep_ms": 800}`)
		}()
	}
	wg.Wait()
	close(answers)
	counts := map[int]int{}
	for a := range answers {
		counts[a.status]++
		if a.status == 503 && !containsAll(a.body, "overloaded", "echo/v1") {
			t.Errorf("a refusal: %s; want 503 overloaded naming echo/v1", a.body)
		}
	}
	if counts[200] < 1 || counts[200] > 2 || counts[200]+counts[503] != 8 {
		t.Errorf("statuses %v; want at most 2 served and the rest 503 overloaded", counts)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
