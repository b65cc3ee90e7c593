package jobs

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"time"
)

// Status is where a job is in its life.
type Status string

// The statuses of docs/protocol.md. Succeeded, failed and cancelled are
// final: once a record has one, nobody changes it again.
const (
	// Queued: accepted, waiting for a worker, or for another attempt after
	// a failed one (Error then says why it failed).
	Queued Status = "queued"
	// Running: a worker is on it.
	Running Status = "running"
	// Succeeded: Result holds the result.
	Succeeded Status = "succeeded"
	// Failed: Error says why; no attempt is left.
	Failed Status = "failed"
	// Cancelled: a client cancelled it.
	Cancelled Status = "cancelled"
)

// Final reports whether s is a status that never changes.
func (s Status) Final() bool { return s == Succeeded || s == Failed || s == Cancelled }

// Progress is what a worker last said about how far along a job is.
type Progress struct {
	// Fraction is from 0 to 1.
	Fraction float64 `json:"fraction"`
	// Message is optional, for humans.
	Message string `json:"message,omitempty"`
}

// Error is why an attempt, or the job, failed.
type Error struct {
	// Code is a worker error code (docs/protocol.md, "Reply") or one of
	// the gateway's: CodeWorkerLost.
	Code    string `json:"code"`
	Message string `json:"message"`
}

// CodeWorkerLost is the error of a job whose last attempt ended without a
// word from its worker (it died, or stopped heartbeating).
const CodeWorkerLost = "worker_lost"

// Record is a job as stored in the bucket under "job.<id>", and as
// GET /jobs/{id} shows it (without CallbackURL). Members this version does
// not know are kept through a read-modify-write, so that older and newer
// writers can share a bucket.
type Record struct {
	ID string `json:"id"`
	// Contract is "name/vN".
	Contract string `json:"contract"`
	Status   Status `json:"status"`
	// Progress is nil until the worker reports some.
	Progress *Progress `json:"progress,omitempty"`
	// Result is the handler's result, valid against the contract's
	// response schema, once the job succeeded.
	Result json.RawMessage `json:"result,omitempty"`
	// Error is the last failed attempt's error: final when Status is
	// Failed, the reason for a retry when it is Queued.
	Error *Error `json:"error,omitempty"`
	// Attempts counts the deliveries to a worker so far.
	Attempts int `json:"attempts"`
	// Usage is what the handler reported over every run of every
	// delivery; nil when it reported nothing. Workers write it.
	Usage     *Usage    `json:"usage,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// RequestID is the id of the HTTP request that submitted the job.
	RequestID string `json:"request_id,omitempty"`
	// CallbackURL receives the record when the job ends; never shown over
	// HTTP.
	CallbackURL string `json:"callback_url,omitempty"`
	// Owner is the id of the API key that submitted the job; never shown
	// over HTTP.
	Owner string `json:"owner,omitempty"`

	rest map[string]json.RawMessage // members this version does not know
}

// Usage is a job's handler runs and reported usage, summed.
type Usage struct {
	Runs         int     `json:"runs"`
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	Cost         float64 `json:"cost"`
}

// recordFields is Record without its methods, for the JSON encoding.
type recordFields Record

// UnmarshalJSON decodes a record and keeps the members it does not know.
func (r *Record) UnmarshalJSON(b []byte) error {
	var f recordFields
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	for _, k := range knownMembers {
		delete(all, k)
	}
	*r = Record(f)
	if len(all) > 0 {
		r.rest = all
	}
	return nil
}

// MarshalJSON encodes a record with the members it did not know.
func (r Record) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(recordFields(r))
	if err != nil || len(r.rest) == 0 {
		return b, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	for k, v := range r.rest {
		if _, known := all[k]; !known {
			all[k] = v
		}
	}
	return json.Marshal(all)
}

var knownMembers = []string{"id", "contract", "status", "progress", "result", "error", "attempts",
	"created_at", "updated_at", "request_id", "callback_url"}

// Public is the record as clients see it: the documented members, without
// the callback URL and the owner.
func (r *Record) Public() ([]byte, error) {
	pub := *r
	pub.CallbackURL, pub.Owner, pub.rest = "", "", nil
	return json.Marshal(recordFields(pub))
}

// idPattern is what a job id may look like; ids the gateway makes are
// newID's.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// newID makes a job id: 128 random bits as 22 characters of base64url, so
// that no client can guess another's job (a nuid's counter would tell the
// ids made after it).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ValidID reports whether id can be a job id (and a key in the bucket).
func ValidID(id string) bool { return idPattern.MatchString(id) }
