package contracts

import (
	"encoding/json"
	"os"
	"testing"
)

// ConformanceTable is testdata/conformance.json: the verdicts and the
// violations the Go and the Python validators must share. It is exported
// for the external tests of this package, which read it too.
type ConformanceTable struct {
	Cases []struct {
		Name    string            `json:"name"`
		Schema  json.RawMessage   `json:"schema"`
		Valid   []json.RawMessage `json:"valid"`
		Invalid []json.RawMessage `json:"invalid"`
	} `json:"cases"`
	InvalidSchemas []struct {
		Name    string                     `json:"name"`
		Schema  json.RawMessage            `json:"schema"`
		Files   map[string]json.RawMessage `json:"files"`   // more schema files, beside the request schema
		Message string                     `json:"message"` // in the first problem, when given
	} `json:"invalid_schemas"`
	Violations []struct {
		Name     string          `json:"name"`
		Schema   json.RawMessage `json:"schema"`
		Example  json.RawMessage `json:"example"`
		Instance json.RawMessage `json:"instance"`
		Want     [][]string      `json:"want"` // [instancePath, keyword] or [instancePath, keyword, message]
	} `json:"violations"`
}

// ReadConformanceTable reads testdata/conformance.json.
func ReadConformanceTable(t testing.TB) ConformanceTable {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/conformance.json")
	if err != nil {
		t.Fatal(err)
	}
	var table ConformanceTable
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	return table
}
