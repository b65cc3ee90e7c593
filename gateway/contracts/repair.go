package contracts

import (
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// Bounds of the repair and cache members (docs/contracts.md).
const (
	minRepairAttempts = 2
	maxRepairAttempts = 10
	maxCacheTTL       = 24 * time.Hour
)

// Repair is a contract's validate-and-repair policy: when a reply breaks
// the response schema or one of the worker's checks, the worker calls the
// handler again with the violations, up to MaxAttempts times in all. The
// worker runs the attempts; the gateway reports and counts them.
type Repair struct {
	// MaxAttempts counts every call of the handler, the first included.
	MaxAttempts int `json:"max_attempts"`
	// MaxTokens stops further attempts once the attempts so far reported
	// this many tokens (input and output); 0 means no bound.
	MaxTokens int64 `json:"max_tokens,omitempty"`
	// MaxCost stops further attempts once the attempts so far reported
	// this cost; 0 means no bound.
	MaxCost float64 `json:"max_cost,omitempty"`
	// Stream is how a stream contract's chunks are held to the checks:
	// StreamBuffer or StreamVerdict; "" for sync and job contracts.
	Stream string `json:"stream,omitempty"`
}

// Stream repair modes (docs/guardrails.md, "Streams").
const (
	// StreamBuffer holds a stream's chunks in the worker until they pass
	// the checks, repairing as a sync reply is, then sends them.
	StreamBuffer = "buffer"
	// StreamVerdict sends the chunks as they come and ends the stream
	// with the checks' verdict on them; nothing is repaired.
	StreamVerdict = "verdict"
)

// Cache says a contract is deterministic: the gateway may answer a request
// with the reply to an equal request (canonical JSON) for TTL.
type Cache struct {
	TTLSeconds float64 `json:"ttl_seconds"`
}

// TTL is how long a cached reply is served.
func (c *Cache) TTL() time.Duration { return time.Duration(c.TTLSeconds * float64(time.Second)) }

// decodeObject decodes the object member at ptr, reporting each unknown
// member and each member of the wrong type at its own pointer; nil when
// the member is not an object.
func decodeObject[T any](file, ptr string, raw json.RawMessage) (*T, []Finding) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		return nil, []Finding{finding(file, ptr, "must be an object")}
	}
	into := new(T)
	fields := memberFields(into)
	var out []Finding
	for _, key := range slices.Sorted(maps.Keys(members)) {
		at := ptr + "/" + escapePointer(key)
		field, known := fields[key]
		if !known {
			out = append(out, finding(file, at, "unknown field %q", key))
			continue
		}
		if err := json.Unmarshal(members[key], field); err != nil {
			out = append(out, finding(file, at, "%s", typeError(err)))
		}
	}
	return into, out
}

// repairProblems returns how a manifest's repair and cache members break
// the rules of docs/contracts.md.
func (m *manifest) repairProblems(add func(ptr, format string, args ...any)) {
	if r := m.Repair; r != nil {
		switch {
		case m.Mode == ModeStream && r.Stream != StreamBuffer && r.Stream != StreamVerdict:
			add("/repair/stream", "%q: a stream contract's repair says how its chunks are checked: %q (held until they pass, repaired) or %q (sent as they come, judged at the end)", r.Stream, StreamBuffer, StreamVerdict)
		case m.Mode != ModeStream && r.Stream != "":
			add("/repair/stream", "is for stream contracts only")
		}
		if r.Stream == StreamVerdict {
			if r.MaxAttempts != 0 || r.MaxTokens != 0 || r.MaxCost != 0 {
				add("/repair", "a verdict stream is not repaired: max_attempts, max_tokens and max_cost are for the other modes")
			}
		} else {
			if r.MaxAttempts < minRepairAttempts || r.MaxAttempts > maxRepairAttempts {
				add("/repair/max_attempts", "%d must be >= %d and <= %d", r.MaxAttempts, minRepairAttempts, maxRepairAttempts)
			}
			if r.MaxTokens < 0 {
				add("/repair/max_tokens", "%d must be >= 0 (0: no bound)", r.MaxTokens)
			}
			if r.MaxCost < 0 {
				add("/repair/max_cost", "%v must be >= 0 (0: no bound)", r.MaxCost)
			}
		}
	}
	if c := m.Cache; c != nil {
		if m.Mode != ModeSync {
			add("/cache", "cache is for mode %q only", ModeSync)
		}
		if !(c.TTLSeconds > 0 && c.TTLSeconds <= maxCacheTTL.Seconds()) {
			add("/cache/ttl_seconds", "%v must be > 0 and <= %v", c.TTLSeconds, maxCacheTTL.Seconds())
		}
	}
}
