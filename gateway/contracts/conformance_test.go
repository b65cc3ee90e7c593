package contracts_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/internal/contracttest"
)

func TestConformanceTable(t *testing.T) {
	table := contracts.ReadConformanceTable(t)
	for _, tc := range table.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			c := contractWithRequestSchema(t, tc.Schema, tc.Valid[0])
			for _, inst := range tc.Valid {
				if vs := c.ValidateRequest(decode(t, inst)); len(vs) > 0 {
					t.Errorf("%s: got violations %v; want valid", inst, vs)
				}
			}
			for _, inst := range tc.Invalid {
				if vs := c.ValidateRequest(decode(t, inst)); len(vs) == 0 {
					t.Errorf("%s: got valid; want a violation", inst)
				}
			}
		})
	}
	for _, tc := range table.Violations {
		t.Run(tc.Name, func(t *testing.T) {
			c := contractWithRequestSchema(t, tc.Schema, tc.Example)
			got := c.ValidateRequest(decode(t, tc.Instance))
			if len(got) != len(tc.Want) {
				t.Fatalf("got violations %v; want %v", got, tc.Want)
			}
			for i, want := range tc.Want {
				v := got[i]
				if v.InstancePath != want[0] || v.Keyword != want[1] || len(want) > 2 && v.Message != want[2] {
					t.Errorf("violation %d = %+v; want %q", i, v, want)
				}
			}
		})
	}
	for _, tc := range table.InvalidSchemas {
		t.Run(tc.Name, func(t *testing.T) {
			dir := writeConformanceTree(t, tc.Schema, json.RawMessage(`"x"`))
			for name, schema := range tc.Files {
				contracttest.WriteFile(t, filepath.Join(dir, "..", "schemas", name), string(schema))
			}
			_, err := contracts.Load(dir)
			if !errors.Is(err, contracts.ErrInvalidContract) {
				t.Fatalf("got err %v; want ErrInvalidContract", err)
			}
			if !strings.Contains(err.Error(), "schemas/req.json") || !strings.Contains(err.Error(), tc.Message) {
				t.Errorf("got err %v; want it to name schemas/req.json and say %q", err, tc.Message)
			}
		})
	}
}

func TestValidateListsEveryViolation(t *testing.T) {
	reg := mustLoadDir(t, "../../testdata/contracts")
	c, err := reg.Lookup("echo", 1)
	if err != nil {
		t.Fatal(err)
	}
	got := c.ValidateRequest(decode(t, json.RawMessage(`{"text": "ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé", "sleep_ms": -1, "extra": true}`)))
	want := []contracts.Violation{
		{InstancePath: "", Keyword: "additionalProperties"},
		{InstancePath: "/sleep_ms", Keyword: "minimum"},
		{InstancePath: "/text", Keyword: "maxLength"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d violations %v; want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i].InstancePath != want[i].InstancePath || got[i].Keyword != want[i].Keyword || got[i].Message == "" {
			t.Errorf("violation %d = %+v; want path %q keyword %q and a message", i, got[i], want[i].InstancePath, want[i].Keyword)
		}
	}
}

func TestDecodeJSONLocatesErrors(t *testing.T) {
	tests := []struct {
		in         string
		line, col  int
		wantsError bool
	}{
		{in: `{"a": 1}`},
		{in: "{\n  \"a\": x\n}", line: 2, col: 8, wantsError: true},
		{in: `{"a": 1} {"b": 2}`, line: 1, col: 10, wantsError: true},
		{in: `{"a": `, line: 1, col: 6, wantsError: true},
		{in: ``, line: 1, col: 1, wantsError: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := contracts.DecodeJSON([]byte(tt.in))
			if !tt.wantsError {
				if err != nil {
					t.Fatalf("got %v; want no error", err)
				}
				return
			}
			var se *contracts.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("got %v; want a *SyntaxError", err)
			}
			if se.Line != tt.line || se.Column != tt.col {
				t.Errorf("got line %d column %d; want line %d column %d (%v)", se.Line, se.Column, tt.line, tt.col, se)
			}
		})
	}
}

func TestRegistryLatestSkipsDeprecated(t *testing.T) {
	reg := mustLoadDir(t, "../../testdata/contracts")
	c, err := reg.Latest("echo")
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != 1 {
		t.Fatalf("got v%d; want v1 (v2 is deprecated)", c.Version)
	}
	if _, err := reg.Lookup("echo", 9); !errors.Is(err, contracts.ErrUnknownVersion) {
		t.Errorf("Lookup(echo, 9) err = %v; want ErrUnknownVersion", err)
	}
	if _, err := reg.Latest("nope"); !errors.Is(err, contracts.ErrUnknownContract) {
		t.Errorf("Latest(nope) err = %v; want ErrUnknownContract", err)
	}
}

func contractWithRequestSchema(t *testing.T, schema, example json.RawMessage) *contracts.Contract {
	t.Helper()
	reg := mustLoadDir(t, writeConformanceTree(t, schema, example))
	return reg.All()[0]
}

func writeConformanceTree(t *testing.T, schema, example json.RawMessage) string {
	t.Helper()
	dir := t.TempDir()
	contracttest.WriteFile(t, filepath.Join(dir, "schemas", "req.json"), string(schema))
	contracttest.WriteFile(t, filepath.Join(dir, "schemas", "resp.json"), `{}`)
	contracttest.WriteFile(t, filepath.Join(dir, "contracts", "c.v1.json"), contracttest.Manifest(`"examples": [{"name": "x", "request": `+string(example)+`}]`))
	return filepath.Join(dir, "contracts")
}

func mustLoadDir(t *testing.T, dir string) *contracts.Registry {
	t.Helper()
	reg, err := contracts.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func decode(t *testing.T, raw json.RawMessage) any {
	t.Helper()
	v, err := contracts.DecodeJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
