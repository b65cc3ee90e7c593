package contracttools_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tree is a set of files by path relative to a root.
type tree map[string]string

// validTree is one correct contract, "t" v1, whose request schema reaches
// a second file through $ref.
func validTree() tree {
	return tree{
		"contracts/t.v1.json": manifest(),
		"schemas/req.json":    `{"type": "object", "additionalProperties": false, "required": ["text"], "properties": {"text": {"$ref": "defs.json#/$defs/text"}}}`,
		"schemas/defs.json":   `{"$defs": {"text": {"type": "string", "maxLength": 64}}}`,
		"schemas/resp.json":   `{"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}`,
	}
}

// manifest returns the manifest of "t" v1 with members replaced or added:
// each override is `"key": value`.
func manifest(overrides ...string) string {
	keys := []string{"name", "version", "description", "mode", "timeout_seconds", "request_schema", "response_schema", "examples"}
	fields := map[string]string{
		"name":            `"t"`,
		"version":         `1`,
		"description":     `"A test"`,
		"mode":            `"sync"`,
		"timeout_seconds": `3`,
		"request_schema":  `"../schemas/req.json"`,
		"response_schema": `"../schemas/resp.json"`,
		"examples":        `[{"name": "x", "request": {"text": "a"}, "response": {"text": "a"}}]`,
	}
	for _, o := range overrides {
		key, value, _ := strings.Cut(o, ": ")
		key = strings.Trim(key, `"`)
		if _, ok := fields[key]; !ok {
			keys = append(keys, key)
		}
		fields[key] = value
	}
	var parts []string
	for _, k := range keys {
		if v := fields[k]; v != "" {
			parts = append(parts, `"`+k+`": `+v)
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func (tr tree) write(t *testing.T, root string) {
	t.Helper()
	for name, content := range tr {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (tr tree) with(files tree) tree {
	out := tree{}
	for k, v := range tr {
		out[k] = v
	}
	for k, v := range files {
		out[k] = v
	}
	return out
}
