package jsoneq_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/notebridge/notebridge/gateway/jsoneq"
)

// JSON equality is protocol/vectors/json-equality.json's, which the Python
// SDK's tests check too; the canonical form (an Idempotency-Key's request,
// a cache key) is equal exactly when the values are.
func TestEqualityVectors(t *testing.T) {
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
	decode := func(t *testing.T, text string) any {
		t.Helper()
		d := json.NewDecoder(strings.NewReader(text))
		d.UseNumber()
		var out any
		if err := d.Decode(&out); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		return out
	}
	for _, tt := range v.Cases {
		t.Run(tt.A+" vs "+tt.B, func(t *testing.T) {
			a, b := decode(t, tt.A), decode(t, tt.B)
			if got := jsoneq.Equal(a, b); got != tt.Equal {
				t.Errorf("Equal(%s, %s) = %v; want %v", tt.A, tt.B, got, tt.Equal)
			}
			if got := jsoneq.Equal(b, a); got != tt.Equal {
				t.Errorf("Equal(%s, %s) = %v; want %v", tt.B, tt.A, got, tt.Equal)
			}
			ca, cb := jsoneq.Canonical([]byte(tt.A)), jsoneq.Canonical([]byte(tt.B))
			if got := bytes.Equal(ca, cb); got != tt.Equal {
				t.Errorf("canonical forms %s and %s: equal %v; want %v", ca, cb, got, tt.Equal)
			}
		})
	}
}
