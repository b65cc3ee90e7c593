package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/internal/refworker"
	"github.com/notebridge/notebridge/gateway/jobs"
	"github.com/notebridge/notebridge/gateway/webhook"
	"github.com/notebridge/notebridge/gateway/wire"
)

const hookSecret = "whsec_test_only"

// delivery is one webhook request as the receiver saw it.
type delivery struct {
	job, attempt string
	body         string
	verified     error
	status       int
}

// hookReceiver is a product's webhook endpoint: it verifies every
// signature, and answers 500 to the first delivery of each job so that
// the gateway has to retry.
type hookReceiver struct {
	mu   sync.Mutex
	seen map[string][]delivery
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	d := delivery{
		job: r.Header.Get(jobs.HeaderJobID), attempt: r.Header.Get(webhook.HeaderAttempt), body: string(body),
		verified: webhook.VerifySignature(hookSecret, r.Header.Get(webhook.HeaderSignature), body, 5*time.Minute),
		status:   http.StatusOK,
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.seen[d.job]) == 0 {
		d.status = http.StatusInternalServerError
	}
	h.seen[d.job] = append(h.seen[d.job], d)
	w.WriteHeader(d.status)
}

func (h *hookReceiver) deliveries(job string) []delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]delivery(nil), h.seen[job]...)
}

func TestJobWebhooks(t *testing.T) {
	t.Parallel()
	rc := &hookReceiver{seen: map[string][]delivery{}}
	srv := httptest.NewServer(rc) // on 127.0.0.1
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	allow, err := webhook.ParseAllowList(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	g := newJobGateway(t, jobs.Config{WebhookAllow: allow, Webhook: webhook.Sender{Secret: hookSecret, Backoff: 10 * time.Millisecond}})
	other := g.replica(t) // two gateways: still one delivery per job
	started := make(chan string, 8)
	g.worker(t, refworker.WithJobStarted(func(id string, _ int) { started <- id }))

	tests := []struct {
		name, body, status string
		cancel             bool
	}{
		{"succeeded", `{"text": "hook"}`, "succeeded", false},
		{"failed", `{"text": "hook", "fail_on": [1, 2, 3]}`, "failed", false},
		{"cancelled", `{"text": "hook", "steps": 1000, "step_ms": 20}`, "cancelled", true},
	}
	ids := map[string]string{}
	for _, tt := range tests {
		id := g.submit(t, "/api/steps", tt.body, "Callback-Url", srv.URL+"/hooks/notebridge?src=test")
		ids[tt.name] = id
		if tt.cancel {
			for got := <-started; got != id; got = <-started {
			}
			if r := other.do(t, "DELETE", "/jobs/"+id, ""); r.status != 200 {
				t.Fatalf("cancel: got %d; want 200 (body %s)", r.status, r.body)
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := ids[tt.name]
			v := g.waitFinal(t, id)
			if v.Status != tt.status {
				t.Fatalf("got %s; want %s", v.Status, tt.status)
			}
			_, record := g.job(t, id)
			if strings.Contains(string(record), "callback") {
				t.Errorf("GET /jobs/%s shows the callback: %s", id, record)
			}
			ds := waitDelivered(t, rc, id)
			want := []delivery{
				{job: id, attempt: "1", body: string(record), status: 500},
				{job: id, attempt: "2", body: string(record), status: 200},
			}
			if len(ds) != len(want) {
				t.Fatalf("got %d deliveries %+v; want %d", len(ds), ds, len(want))
			}
			for i := range want {
				if ds[i].verified != nil {
					t.Errorf("delivery %d: signature: %v", i+1, ds[i].verified)
				}
				ds[i].verified = nil
				if ds[i] != want[i] {
					t.Errorf("delivery %d: got %+v; want %+v", i+1, ds[i], want[i])
				}
			}
		})
	}
	// Once the hook stream is empty and no gateway holds a delivery, none
	// can come any more: each job's webhook was delivered once, by one of
	// the two gateways.
	waitHooksDone(t, g)
	for name, id := range ids {
		if n := len(rc.deliveries(id)); n != 2 {
			t.Errorf("%s: %d requests in all; want 2 (a 500, then the delivery)", name, n)
		}
	}
}

// waitDelivered waits until the receiver has answered 200 to a delivery
// of the job.
func waitDelivered(t *testing.T, rc *hookReceiver, id string) []delivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds := rc.deliveries(id)
		if len(ds) > 0 && ds[len(ds)-1].status == 200 {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: no delivery got through; saw %+v", id, ds)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitHooksDone waits until the hook stream is empty and its consumer
// holds no delivery.
func waitHooksDone(t *testing.T, g *jobGateway) {
	t.Helper()
	g.waitStreamEmpty(t, wire.HookStream)
	js, err := jetstream.New(g.nc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := js.Consumer(context.Background(), wire.HookStream, wire.HookConsumer)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.NumAckPending == 0 && info.NumPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hook consumer still holds %d deliveries", info.NumAckPending)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
