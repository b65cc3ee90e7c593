package webhook_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/notebridge/notebridge/gateway/webhook"
)

// receiver is a webhook endpoint that answers the given statuses in turn
// (200 once they run out) and verifies every signature.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	got      []string // "attempt verdict"
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	verdict := "ok"
	if err := webhook.VerifySignature("s3cret", r.Header.Get(webhook.HeaderSignature), body, time.Minute); err != nil {
		verdict = err.Error()
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.got = append(rc.got, r.Header.Get(webhook.HeaderAttempt)+" "+verdict)
	status := http.StatusOK
	if len(rc.statuses) > 0 {
		status, rc.statuses = rc.statuses[0], rc.statuses[1:]
	}
	w.WriteHeader(status)
}

func TestSenderRetries(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		attempts int
		want     []string
		wantErr  error
	}{
		{"first attempt", nil, 3, []string{"1 ok"}, nil},
		{"after two failures", []int{500, 503}, 3, []string{"1 ok", "2 ok", "3 ok"}, nil},
		{"redirect is a failure", []int{302}, 2, []string{"1 ok", "2 ok"}, nil},
		{"gives up", []int{500, 500, 500}, 3, []string{"1 ok", "2 ok", "3 ok"}, webhook.ErrDeliveryFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &receiver{statuses: tt.statuses}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			s := webhook.Sender{Secret: "s3cret", Attempts: tt.attempts, Backoff: time.Millisecond}
			kept := 0
			n, err := s.Send(context.Background(), srv.URL, []byte(`{"id":"j"}`), nil, func() { kept++ })
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("got %v; want %v", err, tt.wantErr)
			}
			if n != len(tt.want) || len(rc.got) != len(tt.want) {
				t.Fatalf("got %d attempt(s) %v; want %v", n, rc.got, tt.want)
			}
			for i := range tt.want {
				if rc.got[i] != tt.want[i] {
					t.Errorf("attempt %d: got %q; want %q", i+1, rc.got[i], tt.want[i])
				}
			}
			if kept == 0 {
				t.Errorf("keepAlive was never called")
			}
		})
	}
}
