package contracts

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrMerge is wrapped by errors of Merge.Apply.
var ErrMerge = errors.New("cannot merge stream chunks")

// Merge says how a stream contract's chunks become one JSON reply. Exactly
// one field is set.
type Merge struct {
	// Concat names a string member of every chunk; the reply is
	// {Concat: the members joined}.
	Concat string `json:"concat,omitempty"`
	// Collect names the reply's one member, an array of every chunk.
	Collect string `json:"collect,omitempty"`
}

// Apply merges chunks into the reply's bytes.
func (m *Merge) Apply(chunks []json.RawMessage) ([]byte, error) {
	switch {
	case m.Concat != "":
		var sb strings.Builder
		for i, raw := range chunks {
			var chunk map[string]json.RawMessage
			if err := json.Unmarshal(raw, &chunk); err != nil {
				return nil, fmt.Errorf("%w: chunk %d is not an object", ErrMerge, i+1)
			}
			// null would decode to "" without an error: it is no string either.
			var s string
			member := chunk[m.Concat]
			if err := json.Unmarshal(member, &s); err != nil || string(member) == "null" {
				return nil, fmt.Errorf("%w: chunk %d has no string %q", ErrMerge, i+1, m.Concat)
			}
			sb.WriteString(s)
		}
		return json.Marshal(map[string]string{m.Concat: sb.String()})
	case m.Collect != "":
		if chunks == nil {
			chunks = []json.RawMessage{}
		}
		return json.Marshal(map[string][]json.RawMessage{m.Collect: chunks})
	}
	return nil, fmt.Errorf("%w: the merge names no strategy", ErrMerge)
}
