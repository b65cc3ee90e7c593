package contracts

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// Mode says how a contract answers a request.
type Mode string

// The modes of docs/protocol.md.
const (
	// ModeSync is one request, one reply.
	ModeSync Mode = "sync"
	// ModeStream is one request, a sequence of chunks, relayed as Server-Sent Events.
	ModeStream Mode = "stream"
	// ModeJob is one request that becomes a durable job on JetStream: the
	// client gets a job id at once and the result later.
	ModeJob Mode = "job"
)

// Example is a request a contract documents, with the response a
// deterministic handler must give for it (Response is nil when the handler
// is not deterministic).
type Example struct {
	Name     string          `json:"name"`
	Request  json.RawMessage `json:"request"`
	Response json.RawMessage `json:"response,omitempty"`
}

// Contract is one major version of a named contract, with its schemas compiled.
type Contract struct {
	Name        string
	Version     int
	Description string
	Mode        Mode
	Timeout     time.Duration
	Deprecated  bool
	Examples    []Example
	// IdleTimeout is how long a stream may go without a message before the
	// worker is presumed dead (stream mode).
	IdleTimeout time.Duration
	// Merge says how a stream's chunks become one JSON reply for clients
	// that ask for application/json; nil means they cannot (stream mode).
	Merge *Merge
	// MaxAttempts bounds how many times a job is delivered to a worker
	// (job mode).
	MaxAttempts int
	// AckWait is how long a worker may hold a job without acknowledging it
	// or sending a heartbeat before JetStream delivers it again (job mode).
	AckWait time.Duration
	// Repair is the contract's validate-and-repair policy; nil when it has
	// none (sync and job modes).
	Repair *Repair
	// Cache says the contract is deterministic and how long its replies may
	// be served again; nil when they may not (sync mode).
	Cache *Cache
	// Compose is how the gateway makes the reply of a composed contract
	// from other contracts'; nil for a contract that workers serve.
	Compose *Compose
	// Tenant points at the request member that names the tenant a request
	// is for; nil when the contract is not tenant-scoped (tenant.go).
	Tenant Pointer

	// Subject is the NATS subject requests of this contract are sent on:
	// nb.<name>.v<N>, or nb.jobs.<name>.v<N> for a job contract.
	Subject string
	// Digest identifies the contract's schemas; see docs/protocol.md.
	Digest string
	// ManifestFile is the path of the manifest the contract was loaded from.
	ManifestFile string
	// RequestSchemaRef and ResponseSchemaRef are the schema paths as the
	// manifest wrote them, relative to the manifest's directory.
	RequestSchemaRef  string
	ResponseSchemaRef string
	ChunkSchemaRef    string
	// Schemas holds every schema document the contract reaches, keyed by its
	// path relative to the manifest's directory, so a reader can resolve $refs.
	Schemas map[string]json.RawMessage

	request  *validator
	response *validator
	chunk    *validator
}

// validator is a compiled schema with its fast path (fastpath.go): most
// valid values are accepted without running the full validator, and the
// full validator decides, and explains, everything else.
type validator struct {
	full *jsonschema.Schema
	fast *fastSchema // nil when the schema uses a keyword the fast path leaves to v5
}

func newValidator(s *jsonschema.Schema) *validator {
	if s == nil {
		return nil
	}
	return &validator{full: s, fast: compileFast(s)}
}

// violations validates a decoded value: numbers outside the numeric domain
// first, since v5 would panic on some (an exponent past a million) and
// spend time on others, then the schema.
func (v *validator) violations(value any) []Violation {
	if vs := numberViolations(value, MaxNumberDigitsCeiling); len(vs) > 0 {
		return vs
	}
	return v.schemaViolations(value)
}

func (v *validator) schemaViolations(value any) []Violation {
	if v.fast != nil && v.fast.valid(value) {
		return nil
	}
	return violations(v.full.Validate(value))
}

// violationsJSON is violations of a raw document within lim. A document
// the fast path vouches for in its bytes, limits included, is never
// decoded; any other is checked for depth and Unicode in one linear pass
// before a decoder sees it.
func (v *validator) violationsJSON(data []byte, lim Limits) ([]Violation, error) {
	if v.fast != nil && v.fast.validJSON(data, lim) {
		return nil, nil
	}
	if err := checkText(data, lim.MaxDepth); err != nil {
		return nil, err
	}
	value, err := decode(data)
	if err != nil {
		return nil, err
	}
	if vs := numberViolations(value, lim.MaxNumberDigits); len(vs) > 0 {
		return vs, nil
	}
	return v.schemaViolations(value), nil
}

// ID is the contract's name and version as written in logs, headers and
// errors: "summarize/v1".
func (c *Contract) ID() string { return c.Name + "/v" + strconv.Itoa(c.Version) }

// ValidateRequest returns every way v breaks the request schema, or nil;
// numbers outside the numeric domain (at its widest, MaxNumberDigitsCeiling
// digits) are violations too. v must be decoded with DecodeJSON (or
// json.Decoder.UseNumber) so numbers keep their precision.
func (c *Contract) ValidateRequest(v any) []Violation { return c.request.violations(v) }

// ValidateResponse returns every way v breaks the response schema, or nil.
func (c *Contract) ValidateResponse(v any) []Violation { return c.response.violations(v) }

// ValidateChunk returns every way v breaks the chunk schema of a stream
// contract, or nil.
func (c *Contract) ValidateChunk(v any) []Violation { return c.chunk.violations(v) }

// ValidateRequestJSON validates a raw request document within lim: a
// *SyntaxError when data is not one JSON document of Unicode text nesting
// at most lim.MaxDepth deep (errors.Is tells ErrTooDeep and ErrNotUnicode
// apart), else every number outside the numeric domain (keyword
// "numberDomain") or, if none, every way it breaks the request schema, or
// nil. Most valid documents take a fast path that decodes nothing.
func (c *Contract) ValidateRequestJSON(data []byte, lim Limits) ([]Violation, error) {
	return c.request.violationsJSON(data, lim)
}

// ValidateResponseJSON is ValidateRequestJSON for the response schema;
// pass lim.ForReplies() to hold a worker's reply to what a worker may send.
func (c *Contract) ValidateResponseJSON(data []byte, lim Limits) ([]Violation, error) {
	return c.response.violationsJSON(data, lim)
}

// ValidateChunkJSON is ValidateResponseJSON for the chunk schema of a
// stream contract.
func (c *Contract) ValidateChunkJSON(data []byte, lim Limits) ([]Violation, error) {
	return c.chunk.violationsJSON(data, lim)
}
