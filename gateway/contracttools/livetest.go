package contracttools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/jsoneq"
	"github.com/notebridge/notebridge/gateway/wire"
)

// ErrNoContractMatched is returned by RunTests when its filter names no
// loaded contract.
var ErrNoContractMatched = errors.New("no contract matches")

// Outcome is how one example fared.
type Outcome string

// The outcomes of an example.
const (
	// Pass: the reply is valid and, when the example gives one, equal to
	// the expected response.
	Pass Outcome = "pass"
	// Fail: the worker answered an error, a reply that breaks the response
	// schema or one that differs from the expected response, or nothing in
	// time.
	Fail Outcome = "fail"
	// NoWorker: nobody serves the contract version.
	NoWorker Outcome = "no worker"
)

// TestConfig says what RunTests sends where.
type TestConfig struct {
	// Conn is the NATS connection to the workers.
	Conn *nats.Conn
	// Registry holds the contracts whose examples are sent.
	Registry *contracts.Registry
	// Contract limits the run to "name" (every version) or "name/vN";
	// "" runs every contract.
	Contract string
	// Timeout bounds each example; 0 means the contract's own timeout, and
	// a longer one is capped at it.
	Timeout time.Duration
}

// Result is the outcome of one example.
type Result struct {
	// Contract is the contract version, as "name/vN".
	Contract string
	// Example is the example's name.
	Example string
	Outcome Outcome
	// Problems says why it failed: violations, differences from the
	// expected response, or the worker's error.
	Problems []string
	Duration time.Duration
}

// RunTests sends every example of the selected contracts to the workers,
// one at a time, exactly as the gateway sends a request
// (contracts.Contract.NewRequest), and checks each reply. Composed
// contracts are left out: no worker serves them, and the contracts they
// call are tested on their own.
func RunTests(ctx context.Context, cfg TestConfig) ([]Result, error) {
	selected, err := selectContracts(cfg.Registry, cfg.Contract)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, ct := range selected {
		if ct.Composed() {
			continue
		}
		for _, ex := range ct.Examples {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			out = append(out, runExample(ctx, cfg, ct, ex))
		}
	}
	return out, nil
}

func selectContracts(reg *contracts.Registry, filter string) ([]*contracts.Contract, error) {
	if filter == "" {
		return reg.All(), nil
	}
	name, version, hasVersion := strings.Cut(filter, "/")
	var out []*contracts.Contract
	for _, ct := range reg.All() {
		if ct.Name != name {
			continue
		}
		if hasVersion && "v"+strconv.Itoa(ct.Version) != version {
			continue
		}
		out = append(out, ct)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w %q (contracts look like name or name/v1)", ErrNoContractMatched, filter)
	}
	return out, nil
}

func runExample(ctx context.Context, cfg TestConfig, ct *contracts.Contract, ex contracts.Example) Result {
	res := Result{Contract: ct.ID(), Example: ex.Name}
	timeout := ct.Timeout
	if cfg.Timeout > 0 && cfg.Timeout < timeout {
		timeout = cfg.Timeout
	}
	switch ct.Mode {
	case contracts.ModeJob:
		return runJobExample(ctx, cfg, ct, ex, res, timeout)
	case contracts.ModeStream:
		return runStreamExample(ctx, cfg, ct, ex, res, timeout)
	}
	start := time.Now()
	deadline := start.Add(timeout)
	msg := ct.NewRequest(ex.Request, "contracts-test-"+nuid.Next(), deadline, "")
	reqCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	reply, err := cfg.Conn.RequestMsgWithContext(reqCtx, msg)
	res.Duration = time.Since(start)

	switch {
	case errors.Is(err, nats.ErrNoResponders):
		res.Outcome = NoWorker
		res.Problems = []string{"no worker serves " + ct.Subject}
		return res
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return fail(res, "no reply within %s", timeout)
	case err != nil:
		return fail(res, "request failed: %v", err)
	}
	if code := reply.Header.Get(wire.HeaderServiceErrorCode); code != "" {
		return fail(res, "worker error %s: %s", code, reply.Header.Get(wire.HeaderServiceError))
	}
	return checkReply(res, ct, ex, reply.Data)
}

func fail(res Result, format string, args ...any) Result {
	res.Outcome = Fail
	res.Problems = append(res.Problems, fmt.Sprintf(format, args...))
	return res
}

// checkReply validates a reply (or a job's result) and compares it with
// the example's expected response.
func checkReply(res Result, ct *contracts.Contract, ex contracts.Example, data []byte) Result {
	got, err := contracts.DecodeJSON(data)
	if err != nil {
		return fail(res, "reply is not JSON: %v", err)
	}
	for _, v := range ct.ValidateResponse(got) {
		where := v.InstancePath
		if where == "" {
			where = "(root)"
		}
		res.Problems = append(res.Problems, fmt.Sprintf("%s: %s (%s)", where, v.Message, v.Keyword))
	}
	if len(res.Problems) > 0 {
		res.Problems = append([]string{"reply breaks the response schema:"}, res.Problems...)
		res.Outcome = Fail
		return res
	}
	if len(ex.Response) > 0 {
		want, err := contracts.DecodeJSON(ex.Response)
		if err != nil {
			return fail(res, "expected response is not JSON: %v", err)
		}
		if diffs := jsoneq.Diff(got, want); len(diffs) > 0 {
			res.Problems = append(res.Problems, "reply differs from the expected response:")
			for _, d := range diffs {
				res.Problems = append(res.Problems, d.String())
			}
			res.Outcome = Fail
			return res
		}
	}
	res.Outcome = Pass
	return res
}

// Passed reports whether every example passed.
func Passed(results []Result) bool {
	for _, r := range results {
		if r.Outcome != Pass {
			return false
		}
	}
	return true
}

// WriteResults prints one line per example, the problems of each failure
// indented below it, and a summary line.
func WriteResults(w io.Writer, results []Result) error {
	for _, r := range results {
		label := map[Outcome]string{Pass: "PASS", Fail: "FAIL", NoWorker: "NO WORKER"}[r.Outcome]
		if _, err := fmt.Fprintf(w, "%-9s %s %q (%s)\n", label, r.Contract, r.Example, r.Duration.Round(time.Millisecond)); err != nil {
			return err
		}
		for _, p := range r.Problems {
			if _, err := fmt.Fprintf(w, "          %s\n", p); err != nil {
				return err
			}
		}
	}
	_, err := fmt.Fprintln(w, TestSummary(results))
	return err
}

// TestSummary counts the outcomes in one line.
func TestSummary(results []Result) string {
	n := map[Outcome]int{}
	for _, r := range results {
		n[r.Outcome]++
	}
	return fmt.Sprintf("contracts test: %d example(s): %d pass, %d fail, %d without a worker",
		len(results), n[Pass], n[Fail], n[NoWorker])
}
