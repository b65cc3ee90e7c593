package jobs

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// Two submissions are the same request, for an Idempotency-Key, exactly
// when their bodies are equal as protocol/vectors/json-equality.json says.
func TestCanonicalJSONFollowsTheEqualityVectors(t *testing.T) {
	raw, err := os.ReadFile("../../protocol/vectors/json-equality.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Cases []struct {
			A, B  string
			Equal bool
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Cases) == 0 {
		t.Fatal("protocol/vectors/json-equality.json has no cases")
	}
	for _, tt := range v.Cases {
		t.Run(tt.A+" vs "+tt.B, func(t *testing.T) {
			a, b := canonicalJSON([]byte(tt.A)), canonicalJSON([]byte(tt.B))
			if got := bytes.Equal(a, b); got != tt.Equal {
				t.Errorf("canonical forms %s and %s: equal %v; want %v", a, b, got, tt.Equal)
			}
		})
	}
}
