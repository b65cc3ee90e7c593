package api

import (
	"bytes"
	"encoding/json"
)

// marshalJSON is the gateway's JSON encoder: like json.Marshal, but it
// leaves <, > and & as they are, since every body is application/json or
// problem+json, never HTML, and "length must be >= 1" should read so.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
