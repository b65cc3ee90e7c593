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
}

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
		if m.Mode == ModeStream {
			add("/repair", "repair is for modes %q and %q: a stream's chunks are sent as they come", ModeSync, ModeJob)
		}
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
	if c := m.Cache; c != nil {
		if m.Mode != ModeSync {
			add("/cache", "cache is for mode %q only", ModeSync)
		}
		if !(c.TTLSeconds > 0 && c.TTLSeconds <= maxCacheTTL.Seconds()) {
			add("/cache/ttl_seconds", "%v must be > 0 and <= %v", c.TTLSeconds, maxCacheTTL.Seconds())
		}
	}
}
