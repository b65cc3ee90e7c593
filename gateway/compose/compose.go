// Package compose runs composed contracts (docs/contracts.md, "Composed
// contracts"): contracts no worker serves, whose reply the gateway makes by
// calling other contracts in steps (one call, parallel branches, or a map
// over an array) and merging their replies into one result by JSON pointer.
//
// A failed branch is retried alone, within its attempts; a step goes on
// when enough of its branches succeeded (its require), and the reply says
// which did. In job mode, each branch that succeeds is checkpointed, so a
// job delivered again (its gateway died) does not call it again.
package compose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/notebridge/notebridge/gateway/contracts"
)

// Caller calls one worker-served contract: it checks request against ct's
// request schema, sends it, and returns the reply once it passes ct's
// response schema. The error of a failed call should be a Failure, the
// answer the gateway would give a client that called ct itself.
type Caller func(ctx context.Context, ct *contracts.Contract, request []byte) ([]byte, error)

// Failure is a failed call, as the problem the gateway would answer.
type Failure interface {
	error
	HTTPStatus() int
	ProblemType() string
	ProblemDetail() string
}

// Outcome is how one branch (or one item of a map) of a composition ended.
type Outcome struct {
	Step   string `json:"step"`
	Branch string `json:"branch,omitempty"`
	// Index is the item of a map step.
	Index *int `json:"index,omitempty"`
	// Outcome is OutcomeSucceeded or OutcomeFailed.
	Outcome string `json:"outcome"`
	// Status is the HTTP status the last attempt would have had on its own.
	Status     int     `json:"status"`
	Attempts   int     `json:"attempts"`
	DurationMS float64 `json:"duration_ms"`
	Error      *Error  `json:"error,omitempty"`
	// Checkpointed says the reply came from an earlier delivery's
	// checkpoint (job mode): the contract was not called again.
	Checkpointed bool `json:"checkpointed,omitempty"`

	cause error // the failure itself, for the answer when the step fails
}

// The outcomes of a branch.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
)

// Error is a failed branch's problem, in brief.
type Error struct {
	Type   string `json:"type"`
	Detail string `json:"detail"`
}

// Reply is what a composed contract answers: the merged result, whether
// every branch succeeded, and how each ended.
type Reply struct {
	Result    json.RawMessage `json:"result"`
	Completed bool            `json:"completed"`
	Branches  []Outcome       `json:"branches"`
}

// Outcomes are the reply's branch outcomes; none for a nil reply.
func (r *Reply) Outcomes() []Outcome {
	if r == nil {
		return nil
	}
	return r.Branches
}

// StepError is a step whose require was not met: the composition fails
// with the problem of its first failed branch (Cause).
type StepError struct {
	Step     string
	Require  contracts.Require
	Cause    error
	Branches []Outcome
}

func (e *StepError) Error() string {
	return fmt.Sprintf("step %s: require %s not met: %v", e.Step, e.Require, e.Cause)
}

func (e *StepError) Unwrap() error { return e.Cause }

// ErrInput is wrapped by the Failure of a branch whose input could not be
// made: a request pointer that finds nothing, a map over something that is
// not an array, or over more items than the step takes.
var ErrInput = errors.New("composition input")

// inputFailure is a failure the composition finds before calling: 422
// invalid-request when the client's request is at fault, 502
// invalid-reply when an earlier step's reply is, 403 forbidden for a
// branch request for another tenant.
type inputFailure struct {
	status int
	detail string
}

// The problem types of inputFailure, from the gateway's catalog
// (gateway/api/problemtypes.go).
const (
	typeInvalidRequest = "urn:notebridge:problem:invalid-request"
	typeInvalidReply   = "urn:notebridge:problem:invalid-reply"
	typeForbidden      = "urn:notebridge:problem:forbidden"
)

func (f *inputFailure) Error() string         { return f.detail }
func (f *inputFailure) Unwrap() error         { return ErrInput }
func (f *inputFailure) HTTPStatus() int       { return f.status }
func (f *inputFailure) ProblemDetail() string { return f.detail }
func (f *inputFailure) ProblemType() string {
	switch f.status {
	case 422:
		return typeInvalidRequest
	case 403:
		return typeForbidden
	default:
		return typeInvalidReply
	}
}

// inputMissing is the failure of a pointer p that found nothing: the
// client's fault when p reads the request.
func inputMissing(p contracts.Pointer, what string) *inputFailure {
	return &inputFailure{status: inputStatus(p), detail: fmt.Sprintf("%s: %s has no value", what, p)}
}

// inputStatus is the status of a failure of the input at p: 422 when p
// reads the client's request, 502 when it reads an earlier step's reply.
func inputStatus(p contracts.Pointer) int {
	if len(p) > 0 && p[0] == "request" {
		return 422
	}
	return 502
}

// ResultError is a merged result that breaks the composed contract's
// response schema.
type ResultError struct {
	Violations []contracts.Violation
	Branches   []Outcome
}

func (e *ResultError) Error() string {
	return fmt.Sprintf("the merged result breaks the response schema: %d violation(s)", len(e.Violations))
}
