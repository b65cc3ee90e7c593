package api_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/jobs"
	"github.com/notebridge/notebridge/gateway/wire"
)

// jetStream is a JetStream client of its own on g's server, as an
// operator's would be.
func (g *jobGateway) jetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(g.ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func TestJobRoutesDuringNATSOutage(t *testing.T) {
	t.Parallel()
	g := newJobGateway(t, jobs.Config{})
	id := g.submit(t, "/api/steps", `{"text": "before"}`)
	port := g.stopNATS(t)
	calls := []struct {
		name, method, path, body string
	}{
		{"submit", "POST", "/api/steps", `{"text": "during"}`},
		{"status", "GET", "/jobs/" + id, ""},
		{"cancel", "DELETE", "/jobs/" + id, ""},
		{"readiness", "GET", "/readyz", ""},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			r := g.do(t, c.method, c.path, c.body, "Content-Type", jsonCT)
			brokerUnavailable(t, r, time.Since(start))
		})
	}
	g.startNATS(t, port, g.dataDir)
	eventually(t, "/readyz to say ready", func() bool { return g.do(t, "GET", "/readyz", "").status == 200 })
	g.submit(t, "/api/steps", `{"text": "after"}`)
	if v, _ := g.job(t, id); v.Status != "queued" {
		t.Errorf("the job submitted before the outage is %s; want queued", v.Status)
	}
}

func TestDeletedJobObjectsAreRecreated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		delete func(jetstream.JetStream) error
	}{
		{"job stream", func(js jetstream.JetStream) error { return js.DeleteStream(context.Background(), wire.JobStream) }},
		{"bucket", func(js jetstream.JetStream) error { return js.DeleteKeyValue(context.Background(), wire.JobBucket) }},
		{"both", func(js jetstream.JetStream) error {
			return errors.Join(js.DeleteStream(context.Background(), wire.JobStream), js.DeleteKeyValue(context.Background(), wire.JobBucket))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newJobGateway(t, jobs.Config{})
			if err := tt.delete(g.jetStream(t)); err != nil {
				t.Fatal(err)
			}
			id := g.submit(t, "/api/steps", `{"text": "after the deletion", "steps": 1}`)
			if n := g.streamMsgs(t, wire.JobStream); n != 1 {
				t.Fatalf("%s holds %d message(s); want the job's", wire.JobStream, n)
			}
			g.worker(t) // a worker started now: the consumer it pulled from went with the stream
			if v := g.waitFinal(t, id); v.Status != "succeeded" {
				t.Errorf("job %s: got %s; want succeeded", id, v.Status)
			}
			if r := g.do(t, "GET", "/readyz", ""); r.status != 200 {
				t.Errorf("/readyz: got %d; want 200 (body %s)", r.status, r.body)
			}
		})
	}
}

// blockJobStream replaces NB_JOBS with a stream that takes its subjects,
// so that g cannot recreate it, and waits until g says so. g recreates
// NB_JOBS as this goes, even, racing, at the very moment the blocker is
// created: NB_JOBS is deleted until g has tried and failed.
func blockJobStream(t *testing.T, g *jobGateway, js jetstream.JetStream) response {
	t.Helper()
	ctx := context.Background()
	deleteJobStream := func() {
		if err := js.DeleteStream(ctx, wire.JobStream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatal(err)
		}
	}
	blocker := jetstream.StreamConfig{Name: "BLOCKER", Subjects: []string{wire.JobStreamSubjects}}
	for i := 0; ; i++ {
		deleteJobStream()
		_, err := js.CreateStream(ctx, blocker)
		if err == nil {
			break
		}
		if i == 50 {
			t.Fatalf("creating a stream to block %s: %v", wire.JobStream, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var r response
	eventually(t, "/readyz to say NB_JOBS cannot be recreated", func() bool {
		deleteJobStream()
		r = g.do(t, "GET", "/readyz", "")
		return strings.Contains(string(r.body), "subjects overlap")
	})
	return r
}

func TestReadyzCoversTheJobStream(t *testing.T) {
	t.Parallel()
	g := newJobGateway(t, jobs.Config{})
	if r := g.do(t, "GET", "/readyz", ""); r.status != 200 {
		t.Fatalf("/readyz: got %d; want 200 (body %s)", r.status, r.body)
	}
	// A stream that takes the job subjects keeps NB_JOBS from being
	// recreated, until it goes.
	ctx := context.Background()
	js := g.jetStream(t)
	r := blockJobStream(t, g, js)
	if p := r.problem(t); r.status != 503 || p["type"] != "urn:notebridge:problem:broker-unavailable" || !strings.Contains(p["detail"].(string), wire.JobStream) {
		t.Errorf("/readyz: got %d %s; want 503 broker-unavailable naming %s", r.status, r.body, wire.JobStream)
	}
	r = g.do(t, "POST", "/api/steps", `{"text": "blocked"}`, "Content-Type", jsonCT)
	if p := r.problem(t); r.status != 503 || p["type"] != "urn:notebridge:problem:broker-unavailable" {
		t.Errorf("submit: got %d %s; want 503 broker-unavailable", r.status, r.body)
	}
	if err := js.DeleteStream(ctx, "BLOCKER"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "/readyz to say ready again", func() bool { return g.do(t, "GET", "/readyz", "").status == 200 })
	g.submit(t, "/api/steps", `{"text": "unblocked"}`)
}
