package contracttools_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/contracttools"
	"github.com/notebridge/notebridge/gateway/embedded"
	"github.com/notebridge/notebridge/gateway/internal/contracttest"
	"github.com/notebridge/notebridge/gateway/internal/natstest"
	"github.com/notebridge/notebridge/gateway/internal/refworker"
)

// echoTree is the echo test contract with examples that pass and fail in
// every way against the Go reference worker; v2 has no worker.
func echoTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := contracttest.Tree{
		"contracts/echo.v1.json": `{"name": "echo", "version": 1, "mode": "sync", "timeout_seconds": 2,
			"request_schema": "../schemas/echo.request.json", "response_schema": "../schemas/echo.response.json",
			"examples": [
				{"name": "hello", "request": {"text": "hello"}, "response": {"text": "hello"}},
				{"name": "exact number", "request": {"text": "n", "n": 12345678901234567890.125}, "response": {"n": 12345678901234567890.1250, "text": "n"}},
				{"name": "no expected response", "request": {"text": "anything"}},
				{"name": "wrong expectation", "request": {"text": "a", "n": 1.5}, "response": {"text": "b", "n": 1.50000000000000001}},
				{"name": "bad reply", "request": {"text": "a", "behavior": "bad_reply"}},
				{"name": "worker error", "request": {"text": "a", "behavior": "fail"}},
				{"name": "too slow", "request": {"text": "a", "sleep_ms": 5000}}
			]}`,
		"contracts/echo.v2.json": `{"name": "echo", "version": 2, "mode": "sync", "timeout_seconds": 2,
			"request_schema": "../schemas/echo.request.json", "response_schema": "../schemas/echo.response.json",
			"examples": [{"name": "hello", "request": {"text": "hello"}}]}`,
	}
	for _, name := range []string{"echo.request.json", "echo.response.json", "defs.json"} {
		raw, err := os.ReadFile(filepath.Join("../../testdata/schemas", name))
		if err != nil {
			t.Fatal(err)
		}
		files["schemas/"+name] = string(raw)
	}
	files.Write(t, root)
	return filepath.Join(root, "contracts")
}

// bus starts a NATS server, loads dir and serves echo v1 with the
// reference worker, on a connection of its own as a worker process would.
func bus(t *testing.T, dir string, opts ...refworker.Option) (*nats.Conn, *contracts.Registry) {
	t.Helper()
	ns := natstest.Server(t, embedded.Config{})
	reg, err := contracts.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	workerConn := natstest.Conn(t, ns)
	v1, err := reg.Lookup("echo", 1)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := refworker.Start(workerConn, []*contracts.Contract{v1}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	if err := workerConn.Flush(); err != nil {
		t.Fatal(err)
	}
	return natstest.Conn(t, ns), reg
}

func TestRunTests(t *testing.T) {
	nc, reg := bus(t, echoTree(t))
	results, err := contracttools.RunTests(context.Background(), contracttools.TestConfig{
		Conn: nc, Registry: reg, Timeout: 750 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		contract, example string
		outcome           contracttools.Outcome
		problems          []string // substrings of the problems
	}{
		{"echo/v1", "hello", contracttools.Pass, nil},
		{"echo/v1", "exact number", contracttools.Pass, nil},
		{"echo/v1", "no expected response", contracttools.Pass, nil},
		{"echo/v1", "wrong expectation", contracttools.Fail, []string{"reply differs from the expected response:", `/n: got 1.5; want 1.50000000000000001`, `/text: got "a"; want "b"`}},
		{"echo/v1", "bad reply", contracttools.Fail, []string{"reply breaks the response schema:", "/text: expected string, but got number (type)"}},
		{"echo/v1", "worker error", contracttools.Fail, []string{"worker error echo_failed: echo was asked to fail"}},
		{"echo/v1", "too slow", contracttools.Fail, []string{"no reply within 750ms"}},
		{"echo/v2", "hello", contracttools.NoWorker, []string{"no worker serves nb.echo.v2"}},
	}
	if len(results) != len(want) {
		t.Fatalf("got %d results; want %d: %+v", len(results), len(want), results)
	}
	for i, w := range want {
		t.Run(w.contract+" "+w.example, func(t *testing.T) {
			r := results[i]
			if r.Contract != w.contract || r.Example != w.example || r.Outcome != w.outcome {
				t.Fatalf("got %s %q %s; want %s %q %s", r.Contract, r.Example, r.Outcome, w.contract, w.example, w.outcome)
			}
			all := strings.Join(r.Problems, "\n")
			for _, p := range w.problems {
				if !strings.Contains(all, p) {
					t.Errorf("got problems\n%s\nwant one containing %q", all, p)
				}
			}
			if len(w.problems) == 0 && len(r.Problems) > 0 {
				t.Errorf("got problems %v; want none", r.Problems)
			}
		})
	}
	if contracttools.Passed(results) {
		t.Error("Passed = true; want false")
	}

	var out bytes.Buffer
	if err := contracttools.WriteResults(&out, results); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{`PASS      echo/v1 "hello"`, `FAIL      echo/v1 "bad reply"`, `NO WORKER echo/v2 "hello"`,
		"contracts test: 8 example(s): 3 pass, 4 fail, 1 without a worker"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("got report\n%s\nwant a line containing %q", out.String(), line)
		}
	}
}

func TestRunTestsSelectsContracts(t *testing.T) {
	nc, reg := bus(t, echoTree(t))
	tests := []struct {
		filter  string
		want    int
		wantErr error
	}{
		{"echo/v2", 1, nil},
		{"echo", 8, nil},
		{"echo/v9", 0, contracttools.ErrNoContractMatched},
		{"nope", 0, contracttools.ErrNoContractMatched},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			results, err := contracttools.RunTests(context.Background(), contracttools.TestConfig{
				Conn: nc, Registry: reg, Contract: tt.filter, Timeout: 100 * time.Millisecond,
			})
			if !errors.Is(err, tt.wantErr) || len(results) != tt.want {
				t.Fatalf("got %d results, err %v; want %d, %v", len(results), err, tt.want, tt.wantErr)
			}
		})
	}
}

// The worker checks the contract digest header the gateway sends: a test
// run sends the same headers, so a worker with other schemas fails it.
func TestRunTestsSendsTheGatewayHeaders(t *testing.T) {
	nc, reg := bus(t, echoTree(t), refworker.WithDigest("sha256:other"))
	results, err := contracttools.RunTests(context.Background(), contracttools.TestConfig{Conn: nc, Registry: reg, Contract: "echo/v1"})
	if err != nil {
		t.Fatal(err)
	}
	r := results[0]
	if r.Outcome != contracttools.Fail || !strings.Contains(strings.Join(r.Problems, " "), "worker error drift") {
		t.Fatalf("got %s %v; want a drift failure", r.Outcome, r.Problems)
	}
}

func TestWriteJUnit(t *testing.T) {
	results := []contracttools.Result{
		{Contract: "echo/v1", Example: "hello", Outcome: contracttools.Pass, Duration: 3 * time.Millisecond},
		{Contract: "echo/v1", Example: "bad <reply>", Outcome: contracttools.Fail, Problems: []string{"reply breaks the response schema:", "/text: expected string"}},
		{Contract: "echo/v2", Example: "hello", Outcome: contracttools.NoWorker, Problems: []string{"no worker serves nb.echo.v2"}},
	}
	var buf bytes.Buffer
	if err := contracttools.WriteJUnit(&buf, results); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name      string `xml:"name,attr"`
				ClassName string `xml:"classname,attr"`
				Failure   *struct {
					Message string `xml:"message,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
				Error *struct {
					Type string `xml:"type,attr"`
				} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("%v in\n%s", err, buf.String())
	}
	if doc.Tests != 3 || doc.Failures != 1 || doc.Errors != 1 || len(doc.Suites) != 2 {
		t.Fatalf("got tests %d failures %d errors %d suites %d; want 3 1 1 2\n%s", doc.Tests, doc.Failures, doc.Errors, len(doc.Suites), buf.String())
	}
	bad := doc.Suites[0].Cases[1]
	if bad.Name != "bad <reply>" || bad.ClassName != "contracts.echo.v1" || bad.Failure == nil || !strings.Contains(bad.Failure.Text, "/text: expected string") {
		t.Errorf("got case %+v; want the failure with its violations", bad)
	}
	if e := doc.Suites[1].Cases[0].Error; e == nil || e.Type != "no-worker" {
		t.Errorf("got error %+v; want type no-worker", e)
	}
}

func TestRunTestsStreams(t *testing.T) {
	nc := natstest.Conn(t, natstest.Server(t, embedded.Config{}))
	reg, err := contracts.Load("../../testdata/contracts")
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := reg.Lookup("tokens", 1)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := refworker.Start(nc, []*contracts.Contract{tokens})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })

	results, err := contracttools.RunTests(context.Background(), contracttools.TestConfig{Conn: nc, Registry: reg, Contract: "tokens"})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Outcome != contracttools.Pass {
		t.Fatalf("got %+v; want the tokens example to pass (its chunks merged equal its response)", results)
	}
}
