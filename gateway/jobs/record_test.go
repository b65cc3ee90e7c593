package jobs_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/notebridge/notebridge/gateway/jobs"
)

func TestRecordKeepsUnknownMembers(t *testing.T) {
	in := `{"id":"j1","contract":"steps/v1","status":"running","attempts":1,"created_at":"2026-01-02T03:04:05Z",` +
		`"updated_at":"2026-01-02T03:04:06.5+00:00","callback_url":"http://127.0.0.1:9/h","worker":{"host":"gpu-7"}}`
	var r jobs.Record
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	r.Status = jobs.Succeeded
	r.Result = json.RawMessage(`{"n":12345678901234567890.5}`)
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"worker":{"host":"gpu-7"}`, `"status":"succeeded"`, `"callback_url":"http://127.0.0.1:9/h"`, `"n":12345678901234567890.5`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("stored %s; want it to contain %s", out, want)
		}
	}
	pub, err := r.Public()
	if err != nil {
		t.Fatal(err)
	}
	for _, unwanted := range []string{"callback_url", "worker"} {
		if strings.Contains(string(pub), unwanted) {
			t.Errorf("public %s shows %s", pub, unwanted)
		}
	}
}

func TestStatusFinal(t *testing.T) {
	tests := []struct {
		status jobs.Status
		final  bool
	}{
		{jobs.Queued, false}, {jobs.Running, false}, {jobs.Succeeded, true}, {jobs.Failed, true}, {jobs.Cancelled, true},
	}
	for _, tt := range tests {
		if got := tt.status.Final(); got != tt.final {
			t.Errorf("%s.Final() = %v; want %v", tt.status, got, tt.final)
		}
	}
}

func TestValidID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"Vx3zq0pYH2uZ8kLwTnN4aB", true}, {"a-b_c", true}, {"", false}, {"a.b", false}, {"a b", false},
		{"a/b", false}, {"a*", false}, {strings.Repeat("a", 65), false},
	}
	for _, tt := range tests {
		if got := jobs.ValidID(tt.id); got != tt.want {
			t.Errorf("ValidID(%q) = %v; want %v", tt.id, got, tt.want)
		}
	}
}
