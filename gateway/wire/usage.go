package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Bounds of what a worker may report in HeaderUsage; past them the
// report is refused as a whole.
const (
	MaxUsageHeader  = 64 << 10
	MaxUsageReports = 100
)

// ErrBadUsage is returned by ParseUsage for a report it cannot trust.
var ErrBadUsage = errors.New("bad usage report")

// Usage is what one attempt of a handler consumed, as its handler reported
// it: one entry of the HeaderUsage array.
type Usage struct {
	Attempt      int     `json:"attempt"`
	Model        string  `json:"model,omitempty"`
	InputTokens  int64   `json:"input_tokens,omitempty"`
	OutputTokens int64   `json:"output_tokens,omitempty"`
	Cost         float64 `json:"cost,omitempty"`
}

// ParseUsage reads a HeaderUsage value; "" is no usage. Counts and costs
// must be finite and >= 0, models at most 128 bytes.
func ParseUsage(header string) ([]Usage, error) {
	if header == "" {
		return nil, nil
	}
	if len(header) > MaxUsageHeader {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadUsage, len(header), MaxUsageHeader)
	}
	var out []Usage
	if err := json.Unmarshal([]byte(header), &out); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadUsage, err)
	}
	if len(out) > MaxUsageReports {
		return nil, fmt.Errorf("%w: %d reports, more than %d", ErrBadUsage, len(out), MaxUsageReports)
	}
	for i, u := range out {
		if u.Attempt < 1 || u.InputTokens < 0 || u.OutputTokens < 0 || u.Cost < 0 || math.IsInf(u.Cost, 0) || len(u.Model) > 128 {
			return nil, fmt.Errorf("%w: report %d out of range", ErrBadUsage, i)
		}
	}
	return out, nil
}

// ParseAttempts reads a HeaderAttempts value; "" is 0 (not reported).
func ParseAttempts(header string) (int, error) {
	if header == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(header)
	if err != nil || n < 1 || n > 1000 {
		return 0, fmt.Errorf("%w: attempts %q", ErrBadUsage, header)
	}
	return n, nil
}
