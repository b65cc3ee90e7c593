package openapi_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/openapi"
)

// Two contract directories whose schema files share base names, and
// reach a common file and each other through $ref.
var files = map[string]string{
	"a/contracts/x.v1.json": `{"name": "x", "version": 1, "mode": "sync", "timeout_seconds": 1,
		"request_schema": "../schemas/request.json", "response_schema": "../schemas/response.json",
		"examples": [{"name": "e", "request": {"t": "a"}}]}`,
	"a/schemas/request.json": `{"$schema": "https://json-schema.org/draft/2020-12/schema",
		"type": "object", "properties": {"t": {"$ref": "../../shared/common.json#/$defs/t"}, "u": {"$ref": "#/$defs/u"}},
		"$defs": {"u": {"enum": [12345678901234567890.125]}}}`,
	"a/schemas/response.json": `{"$ref": "request.json"}`,
	"b/contracts/y.v1.json": `{"name": "y", "version": 1, "mode": "sync", "timeout_seconds": 1,
		"request_schema": "../schemas/request.json", "response_schema": "../schemas/request.json",
		"examples": [{"name": "e", "request": {"t": "a"}}]}`,
	"b/schemas/request.json": `{"properties": {"t": {"$ref": "../../shared/common.json#/$defs/t"}}}`,
	"shared/common.json":     `{"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": {"t": {"type": "string"}}}`,
}

func TestBundle(t *testing.T) {
	root := t.TempDir()
	for name, content := range files {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := contracts.Load(filepath.Join(root, "a", "contracts"), filepath.Join(root, "b", "contracts"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := openapi.NewBundle(reg.All())
	if err != nil {
		t.Fatal(err)
	}

	var names []string
	for n := range b.Schemas {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{"a.schemas.request", "a.schemas.request.u", "a.schemas.response", "b.schemas.request", "shared.common", "shared.common.t"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("got components %v; want %v", names, want)
	}
	x, _ := reg.Lookup("x", 1)
	if got, err := b.Component(x, x.ResponseSchemaRef); err != nil || got != "a.schemas.response" {
		t.Errorf("Component(x response) = %q, %v; want a.schemas.response", got, err)
	}

	raw, err := json.Marshal(b.Schemas)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"$ref":"#/components/schemas/shared.common.t"`,     // a $defs entry across directories
		`"$ref":"#/components/schemas/a.schemas.request.u"`, // a $defs entry of the same file
		`"$ref":"#/components/schemas/a.schemas.request"`,   // a whole file
		`12345678901234567890.125`,                          // digits kept
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("bundle lacks %s:\n%s", want, raw)
		}
	}
	for _, gone := range []string{`"$schema"`, `"$defs"`} {
		if strings.Contains(string(raw), gone) {
			t.Errorf("bundle keeps %s; want it dropped:\n%s", gone, raw)
		}
	}
}
