package main

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// With the standard OTEL_* variables, the gateway exports its spans over
// OTLP/HTTP.
func TestSpansExportedOverOTLP(t *testing.T) {
	var posts atomic.Int32
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" && r.Header.Get("Content-Type") == "application/x-protobuf" {
			posts.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(collector.Close)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")

	p := startGateway(t, "-nats-port", "0", "-data-dir", t.TempDir(), "-contracts-dir", "../../../testdata/contracts")
	base := p.listening(t)
	call(t, "POST", base+"/api/echo/v1", `{"text": "traced"}`)
	deadline := time.Now().Add(10 * time.Second)
	for posts.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no span reached the collector in 10 s; the log:\n%s", p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
