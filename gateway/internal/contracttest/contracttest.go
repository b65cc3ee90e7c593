// Package contracttest writes contract trees for the gateway's tests:
// manifests and schema files below a directory.
package contracttest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Tree is a set of files by slash-separated path relative to a root.
type Tree map[string]string

// Write writes every file of tr below root, creating directories.
func (tr Tree) Write(t testing.TB, root string) {
	t.Helper()
	for name, content := range tr {
		WriteFile(t, filepath.Join(root, filepath.FromSlash(name)), content)
	}
}

// With returns a copy of tr with files added or replaced.
func (tr Tree) With(files Tree) Tree {
	out := Tree{}
	for k, v := range tr {
		out[k] = v
	}
	for k, v := range files {
		out[k] = v
	}
	return out
}

// WriteFile writes one file, creating its directory.
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Manifest returns the manifest of contract "t" v1 (request schema
// ../schemas/req.json, response ../schemas/resp.json, one example) with
// members replaced or added: each override is `"key": value`. Members keep
// one order, so a manifest reads the same in every run.
func Manifest(overrides ...string) string {
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
