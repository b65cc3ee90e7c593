package contracttools_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/contracttools"
	"github.com/notebridge/notebridge/gateway/internal/contracttest"
	"github.com/notebridge/notebridge/gateway/internal/natstest"
	"github.com/notebridge/notebridge/gateway/internal/refworker"
	"github.com/notebridge/notebridge/gateway/jobs"
)

// stepsTree is a job contract, steps (refworker.StartJobs serves v1), with
// examples that pass and fail; v2 has no worker.
func stepsTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	manifest := func(version, examples string) string {
		return `{"name": "steps", "version": ` + version + `, "mode": "job", "timeout_seconds": 2, "max_attempts": 1,
			"request_schema": "../schemas/request.json", "response_schema": "../schemas/result.json", "examples": ` + examples + `}`
	}
	contracttest.Tree{
		"schemas/request.json": `{"type": "object", "required": ["text"], "properties": {"text": {"type": "string"},
			"steps": {"type": "integer"}, "step_ms": {"type": "integer"}, "fail_on": {"type": "array"}, "die_on": {"type": "array"}}}`,
		"schemas/result.json": `{"type": "object", "required": ["text", "attempt"]}`,
		"contracts/steps.v1.json": manifest("1", `[
			{"name": "hello", "request": {"text": "hello", "steps": 2}, "response": {"text": "hello", "attempt": 1}},
			{"name": "wrong expectation", "request": {"text": "a"}, "response": {"text": "b", "attempt": 1}},
			{"name": "job fails", "request": {"text": "a", "fail_on": [1]}},
			{"name": "too slow", "request": {"text": "a", "steps": 1, "step_ms": 5000}}]`),
		"contracts/steps.v2.json": manifest("2", `[{"name": "hello", "request": {"text": "hello"}}]`),
	}.Write(t, root)
	return filepath.Join(root, "contracts")
}

func TestRunTestsRunsJobs(t *testing.T) {
	ns, nc, js := natstest.JetStream(t)
	reg, err := contracts.Load(stepsTree(t))
	if err != nil {
		t.Fatal(err)
	}
	// What a gateway serving these contracts does at start.
	if err := jobs.Ensure(context.Background(), js, time.Hour, reg.All()); err != nil {
		t.Fatal(err)
	}
	v1, err := reg.Lookup("steps", 1)
	if err != nil {
		t.Fatal(err)
	}
	workerConn := natstest.Conn(t, ns)
	w, err := refworker.StartJobs(workerConn, v1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	results, err := contracttools.RunTests(context.Background(), contracttools.TestConfig{Conn: nc, Registry: reg, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		example  string
		outcome  contracttools.Outcome
		problems []string
	}{
		{"hello", contracttools.Pass, nil},
		{"wrong expectation", contracttools.Fail, []string{`/text: got "a"; want "b"`}},
		{"job fails", contracttools.Fail, []string{"failed: job_failed: asked to fail on attempt 1"}},
		{"too slow", contracttools.Fail, []string{"did not end within 1s; it was cancelled"}},
		{"hello", contracttools.NoWorker, []string{"no worker pulls from nb-jobs-steps-v2"}},
	}
	if len(results) != len(want) {
		t.Fatalf("got %d results; want %d: %+v", len(results), len(want), results)
	}
	for i, w := range want {
		t.Run(results[i].Contract+" "+w.example, func(t *testing.T) {
			r := results[i]
			if r.Example != w.example || r.Outcome != w.outcome {
				t.Fatalf("got %q %s %v; want %q %s", r.Example, r.Outcome, r.Problems, w.example, w.outcome)
			}
			all := strings.Join(r.Problems, "\n")
			for _, p := range w.problems {
				if !strings.Contains(all, p) {
					t.Errorf("got problems\n%s\nwant one containing %q", all, p)
				}
			}
		})
	}
}
