package contracts

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
)

// namePattern keeps a contract name usable as one NATS subject token and
// one URL path segment.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

// maxTimeout bounds the timeout of a sync or stream contract: past it, a
// job fits better.
const maxTimeout = time.Hour

// maxJobTimeout bounds one attempt of a job.
const maxJobTimeout = 24 * time.Hour

// Job mode defaults and bounds (docs/contracts.md).
const (
	defaultMaxAttempts = 3
	maxMaxAttempts     = 100
	defaultAckWait     = 30 * time.Second
	maxAckWait         = time.Hour
)

// manifest is the file format of a contract; docs/contracts.md describes it.
type manifest struct {
	// Schema names protocol/manifest.schema.json for editors; unused.
	Schema         string    `json:"$schema"`
	Name           string    `json:"name"`
	Version        int       `json:"version"`
	Description    string    `json:"description"`
	Mode           Mode      `json:"mode"`
	TimeoutSeconds float64   `json:"timeout_seconds"`
	Deprecated     bool      `json:"deprecated"`
	RequestSchema  string    `json:"request_schema"`
	ResponseSchema string    `json:"response_schema"`
	Examples       []Example `json:"examples"`
	// Stream mode only.
	ChunkSchema        string  `json:"chunk_schema"`
	Merge              *Merge  `json:"merge"`
	IdleTimeoutSeconds float64 `json:"idle_timeout_seconds"`
	// Job mode only.
	// Pointers, so that an explicit 0 is told from an absent member.
	MaxAttempts    *int     `json:"max_attempts"`
	AckWaitSeconds *float64 `json:"ack_wait_seconds"`
	// Sync and job modes: validate-and-repair (repair.go).
	Repair *Repair `json:"repair"`
	// Sync mode only: a deterministic contract's replies are cached.
	Cache *Cache `json:"cache"`
	// Sync and job modes: the contract is composed at the gateway from
	// other contracts (compose.go).
	Compose *Compose `json:"compose"`
	// The pointer of the request member that names the tenant a request
	// is for; present: the contract is tenant-scoped (tenant.go).
	Tenant *string `json:"tenant"`
}

// defaultIdleTimeout is how long a stream may be silent when the manifest
// does not say; workers send heartbeats three times as often.
const defaultIdleTimeout = 10 * time.Second

// exampleFields are the members an example may have.
var exampleFields = map[string]bool{"name": true, "request": true, "response": true}

// decodeManifest decodes a manifest member by member, so that every unknown
// member and every member of the wrong type is reported, not only the first.
func decodeManifest(file string, raw []byte) (manifest, []Finding) {
	var m manifest
	if _, err := DecodeJSON(raw); err != nil {
		return m, []Finding{finding(file, "", "not JSON: %v", err)}
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return m, []Finding{finding(file, "", "a manifest must be a JSON object")}
	}
	fields := memberFields(&m)
	var out []Finding
	for _, key := range slices.Sorted(maps.Keys(members)) {
		ptr := "/" + escapePointer(key)
		switch key {
		case "examples":
			var fs []Finding
			m.Examples, fs = decodeExamples(file, members[key])
			out = append(out, fs...)
			continue
		case "repair":
			var fs []Finding
			m.Repair, fs = decodeObject[Repair](file, ptr, members[key])
			out = append(out, fs...)
			continue
		case "cache":
			var fs []Finding
			m.Cache, fs = decodeObject[Cache](file, ptr, members[key])
			out = append(out, fs...)
			continue
		case "compose":
			var fs []Finding
			m.Compose, fs = decodeCompose(file, members[key])
			out = append(out, fs...)
			continue
		}
		field, known := fields[key]
		if !known {
			out = append(out, finding(file, ptr, "unknown field %q", key))
			continue
		}
		if err := json.Unmarshal(members[key], field); err != nil {
			out = append(out, finding(file, ptr, "%s", typeError(err)))
		}
	}
	return m, out
}

// memberFields maps each member name of a manifest object (the json tags
// of the struct s points to) to the field it decodes into.
func memberFields(s any) map[string]any {
	v := reflect.ValueOf(s).Elem()
	out := map[string]any{}
	for i := 0; i < v.NumField(); i++ {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = v.Field(i).Addr().Interface()
		}
	}
	return out
}

func decodeExamples(file string, raw json.RawMessage) ([]Example, []Finding) {
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, []Finding{finding(file, "/examples", "must be an array of objects")}
	}
	var out []Finding
	examples := make([]Example, len(items))
	for i, item := range items {
		for _, key := range slices.Sorted(maps.Keys(item)) {
			if !exampleFields[key] {
				out = append(out, finding(file, fmt.Sprintf("/examples/%d/%s", i, escapePointer(key)), "unknown field %q", key))
			}
		}
		if name, ok := item["name"]; ok {
			if err := json.Unmarshal(name, &examples[i].Name); err != nil {
				out = append(out, finding(file, fmt.Sprintf("/examples/%d/name", i), "%s", typeError(err)))
			}
		}
		examples[i].Request = item["request"]
		examples[i].Response = item["response"]
	}
	return examples, out
}

// typeError says which JSON type a member should have had.
func typeError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("a JSON %s cannot be a Go %s", te.Value, te.Type)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// problems returns every way m breaks the rules of docs/contracts.md.
func (m *manifest) problems(file string) []Finding {
	var out []Finding
	add := func(ptr, format string, args ...any) { out = append(out, finding(file, ptr, format, args...)) }
	if !namePattern.MatchString(m.Name) {
		add("/name", "%q must match %s", m.Name, namePattern)
	}
	if m.Version < 1 {
		add("/version", "%d must be an integer >= 1", m.Version)
	}
	streamOnly := m.ChunkSchema != "" || m.Merge != nil || m.IdleTimeoutSeconds != 0
	jobOnly := m.MaxAttempts != nil || m.AckWaitSeconds != nil
	if streamOnly && (m.Mode == ModeSync || m.Mode == ModeJob) {
		add("/mode", "chunk_schema, merge and idle_timeout_seconds are for mode %q only", ModeStream)
	}
	if jobOnly && (m.Mode == ModeSync || m.Mode == ModeStream) {
		add("/mode", "max_attempts and ack_wait_seconds are for mode %q only", ModeJob)
	}
	limit := maxTimeout
	switch m.Mode {
	case ModeSync:
	case ModeJob:
		limit = maxJobTimeout
		if n := m.MaxAttempts; n != nil && (*n < 1 || *n > maxMaxAttempts) {
			add("/max_attempts", "%d must be >= 1 and <= %d", *n, maxMaxAttempts)
		}
		if w := m.AckWaitSeconds; w != nil && !(*w > 0 && *w <= maxAckWait.Seconds()) {
			add("/ack_wait_seconds", "%v must be > 0 and <= %v", *w, maxAckWait.Seconds())
		}
	case ModeStream:
		if m.ChunkSchema == "" {
			add("/chunk_schema", "missing: a stream contract needs a chunk schema")
		}
		if m.IdleTimeoutSeconds < 0 || m.IdleTimeoutSeconds > m.TimeoutSeconds {
			add("/idle_timeout_seconds", "%v must be > 0 and <= timeout_seconds", m.IdleTimeoutSeconds)
		}
		if m.Merge != nil && (m.Merge.Concat == "") == (m.Merge.Collect == "") {
			add("/merge", "set exactly one of concat and collect")
		}
	default:
		add("/mode", "%q is not supported; use %q, %q or %q", m.Mode, ModeSync, ModeStream, ModeJob)
	}
	if m.TimeoutSeconds <= 0 || m.TimeoutSeconds > limit.Seconds() {
		add("/timeout_seconds", "%v must be > 0 and <= %v", m.TimeoutSeconds, limit.Seconds())
	}
	if m.RequestSchema == "" {
		add("/request_schema", "missing")
	}
	// A stream without merge has no single reply to describe.
	if m.ResponseSchema == "" && (m.Mode != ModeStream || m.Merge != nil) {
		add("/response_schema", "missing")
	}
	if len(m.Examples) == 0 {
		add("/examples", "a contract needs at least one example")
	}
	m.repairProblems(add)
	m.composeProblems(add)
	m.tenantProblems(add)
	return out
}
