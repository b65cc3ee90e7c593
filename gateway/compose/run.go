package compose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/notebridge/notebridge/gateway/contracts"
)

// Run makes the reply of composed contract ct to request, which passed
// ct's request schema. cp holds the branches an earlier delivery finished
// (job mode); nil keeps none. The error is a *StepError, a *ResultError,
// or ctx's.
func Run(ctx context.Context, ct *contracts.Contract, request []byte, call Caller, cp Checkpoints) (*Reply, error) {
	if !ct.Composed() {
		return nil, fmt.Errorf("compose: %s is not a composed contract", ct.ID())
	}
	req, err := contracts.DecodeJSON(request)
	if err != nil {
		return nil, fmt.Errorf("compose: the request of %s: %w", ct.ID(), err)
	}
	done := map[string]Checkpoint{}
	if cp != nil {
		if done, err = cp.Load(ctx); err != nil {
			return nil, fmt.Errorf("compose: reading the checkpoints: %w", err)
		}
	}
	r := &runner{call: call, cp: cp, done: done}
	r.tenant, r.hasTenant = ct.TenantOf(req)
	steps := map[string]any{}
	scope := map[string]any{"request": req, "steps": steps}
	result := map[string]any{}
	reply := &Reply{Completed: true, Branches: []Outcome{}}
	for _, s := range ct.Compose.Steps {
		value, outcomes, err := r.step(ctx, s, scope, result)
		reply.Branches = append(reply.Branches, outcomes...)
		for _, o := range outcomes {
			if o.Outcome != OutcomeSucceeded {
				reply.Completed = false
			}
		}
		if err != nil {
			var se *StepError
			if errors.As(err, &se) {
				se.Branches = reply.Branches
			}
			return nil, err
		}
		steps[s.Name] = value
	}
	if vs := ct.ValidateResponse(result); len(vs) > 0 {
		return nil, &ResultError{Violations: vs, Branches: reply.Branches}
	}
	if reply.Result, err = json.Marshal(result); err != nil {
		return nil, fmt.Errorf("compose: encoding the result: %w", err)
	}
	return reply, nil
}

// runner runs the steps of one composition.
type runner struct {
	call Caller
	cp   Checkpoints
	done map[string]Checkpoint
	// tenant is the tenant the composed request is for (the gateway held
	// its client to it): every tenant-scoped contract called gets it.
	tenant    string
	hasTenant bool
}

// unit is one call of a step: a branch, or a map step's call for one item.
type unit struct {
	b     *contracts.Branch
	key   string // the checkpoint key
	scope map[string]any
	out   Outcome
	reply any
}

// step runs one step: its value for the scope of later steps, the
// outcome of each of its calls, and a *StepError when too few succeeded.
// The replies of its branches are placed into result.
func (r *runner) step(ctx context.Context, s *contracts.Step, scope, result map[string]any) (any, []Outcome, error) {
	var units []*unit
	switch s.Kind {
	case contracts.StepMap:
		items, err := mapItems(s, scope)
		if err != nil {
			out := Outcome{Step: s.Name, Outcome: OutcomeFailed, Status: err.HTTPStatus(), Error: &Error{Type: err.ProblemType(), Detail: err.ProblemDetail()}, cause: err}
			return nil, []Outcome{out}, &StepError{Step: s.Name, Require: s.Require, Cause: err}
		}
		for i, item := range items {
			itemScope := map[string]any{"request": scope["request"], "steps": scope["steps"], "item": item}
			u := &unit{b: s.Branches[0], key: s.Name + "." + strconv.Itoa(i), scope: itemScope}
			u.out.Index = &i
			units = append(units, u)
		}
	case contracts.StepParallel:
		for _, b := range s.Branches {
			u := &unit{b: b, key: s.Name + "." + b.Name, scope: scope}
			u.out.Branch = b.Name
			units = append(units, u)
		}
	default:
		units = []*unit{{b: s.Branches[0], key: s.Name, scope: scope}}
	}
	limit := len(units)
	if s.Kind == contracts.StepMap {
		limit = s.Concurrency
	}
	r.runAll(ctx, s.Name, units, limit)

	outcomes := make([]Outcome, len(units))
	succeeded := 0
	var firstFailure error
	for i, u := range units {
		outcomes[i] = u.out
		if u.out.Outcome == OutcomeSucceeded {
			succeeded++
		} else if firstFailure == nil {
			firstFailure = u.out.cause
		}
	}
	if !s.Require.Met(succeeded, len(units)) {
		return nil, outcomes, &StepError{Step: s.Name, Require: s.Require, Cause: firstFailure}
	}
	switch s.Kind {
	case contracts.StepMap:
		items := make([]any, len(units))
		for i, u := range units {
			items[i] = u.reply // nil (null) for an item that failed
		}
		place(result, s.Branches[0].Into, items)
		return items, outcomes, nil
	case contracts.StepParallel:
		value := map[string]any{}
		for _, u := range units {
			if u.out.Outcome == OutcomeSucceeded {
				value[u.b.Name] = u.reply
				place(result, u.b.Into, u.reply)
			}
		}
		return value, outcomes, nil
	default:
		place(result, units[0].b.Into, units[0].reply)
		return units[0].reply, outcomes, nil
	}
}

// runAll runs units, at most limit at once.
func (r *runner) runAll(ctx context.Context, step string, units []*unit, limit int) {
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for _, u := range units {
		u.out.Step = step
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r.run(ctx, u)
		}()
	}
	wg.Wait()
}

// run calls one unit's contract, trying again alone after a 5xx failure
// while it has attempts and the composition has time.
func (r *runner) run(ctx context.Context, u *unit) {
	start := time.Now()
	defer func() { u.out.DurationMS = float64(time.Since(start).Microseconds()) / 1000 }()
	if cp, ok := r.done[u.key]; ok {
		if reply, err := contracts.DecodeJSON(cp.Reply); err == nil {
			u.reply = reply
			u.out.Outcome, u.out.Status, u.out.Attempts, u.out.Checkpointed = OutcomeSucceeded, 200, cp.Attempts, true
			return
		}
	}
	value, err := requestValue(u.b, u.scope)
	if err == nil {
		err = r.sameTenant(u.b, value)
	}
	var request []byte
	if err == nil {
		request, err = json.Marshal(value)
	}
	if err != nil {
		u.fail(err)
		return
	}
	for attempt := 1; attempt <= u.b.Attempts; attempt++ {
		u.out.Attempts = attempt
		actx, cancel := ctx, context.CancelFunc(func() {})
		if u.b.Timeout > 0 {
			actx, cancel = context.WithTimeout(ctx, u.b.Timeout)
		}
		data, err := r.call(actx, u.b.Target, request)
		cancel()
		if err == nil {
			reply, err := contracts.DecodeJSON(data)
			if err == nil {
				u.reply = reply
				u.out.Outcome, u.out.Status, u.out.Error, u.out.cause = OutcomeSucceeded, 200, nil, nil
				r.checkpoint(ctx, u, data)
				return
			}
		}
		u.fail(err)
		if u.out.Status < 500 || ctx.Err() != nil {
			return
		}
	}
}

// sameTenant refuses a request of a tenant-scoped contract for another
// tenant than the composed request's: a key bound to a tenant must not
// reach another through a composition.
func (r *runner) sameTenant(b *contracts.Branch, request any) error {
	if b.Target.Tenant == nil {
		return nil
	}
	if got, ok := b.Target.TenantOf(request); ok != r.hasTenant || got != r.tenant {
		return &inputFailure{status: 403, detail: fmt.Sprintf("the request of %s is for tenant %q; the composed request is for %q", b.Call, got, r.tenant)}
	}
	return nil
}

// checkpoint keeps a succeeded unit's reply for a later delivery; a
// checkpoint that cannot be written only costs a call then.
func (r *runner) checkpoint(ctx context.Context, u *unit, data []byte) {
	if r.cp != nil {
		_ = r.cp.Save(ctx, u.key, Checkpoint{Reply: data, Attempts: u.out.Attempts})
	}
}

// fail records err as the unit's outcome.
func (u *unit) fail(err error) {
	u.out.Outcome, u.out.cause = OutcomeFailed, err
	var f Failure
	if errors.As(err, &f) {
		u.out.Status, u.out.Error = f.HTTPStatus(), &Error{Type: f.ProblemType(), Detail: f.ProblemDetail()}
		return
	}
	u.out.Status, u.out.Error = 500, &Error{Type: "urn:notebridge:problem:internal", Detail: "the call failed in the gateway"}
}

// requestValue makes a branch's request from the scope, as decoded JSON.
func requestValue(b *contracts.Branch, scope map[string]any) (any, error) {
	if b.Request.Members == nil {
		v, ok := b.Request.Whole.Resolve(scope)
		if !ok {
			return nil, inputMissing(b.Request.Whole, "the request of "+b.Call)
		}
		return v, nil
	}
	members := make(map[string]any, len(b.Request.Members))
	for _, m := range b.Request.Members {
		if v, ok := m.From.Resolve(scope); ok {
			members[m.Name] = v
		}
	}
	return members, nil
}

// mapItems finds a map step's array, and holds it to the step's bound.
func mapItems(s *contracts.Step, scope map[string]any) ([]any, Failure) {
	v, ok := s.Map.Resolve(scope)
	if !ok {
		return nil, inputMissing(s.Map, "the array of step "+s.Name)
	}
	items, ok := v.([]any)
	status := inputStatus(s.Map)
	switch {
	case !ok:
		return nil, &inputFailure{status: status, detail: fmt.Sprintf("step %s maps over %s, which is not an array", s.Name, s.Map)}
	case len(items) > s.MaxItems:
		return nil, &inputFailure{status: status, detail: fmt.Sprintf("step %s maps over %s, which has %d items; the step takes at most %d", s.Name, s.Map, len(items), s.MaxItems)}
	}
	return items, nil
}

// place sets the value at p in result, making the objects on the way;
// a nil p places nothing.
func place(result map[string]any, p contracts.Pointer, value any) {
	if len(p) == 0 {
		return
	}
	obj := result
	for _, t := range p[:len(p)-1] {
		next, ok := obj[t].(map[string]any)
		if !ok {
			next = map[string]any{}
			obj[t] = next
		}
		obj = next
	}
	obj[p[len(p)-1]] = value
}
