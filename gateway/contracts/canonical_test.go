package contracts

import (
	"encoding/json"
	"os"
	"testing"
)

func TestCanonicalSchemaMatchesSharedVectors(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/digest-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors struct {
		Cases []struct{ Name, Schema, Canonical string }
	}
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors.Cases) < 10 {
		t.Fatalf("got %d vectors; want the whole file", len(vectors.Cases))
	}
	for _, tt := range vectors.Cases {
		t.Run(tt.Name, func(t *testing.T) {
			got, err := canonicalSchema([]byte(tt.Schema))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.Canonical {
				t.Errorf("got %s; want %s", got, tt.Canonical)
			}
		})
	}
}
