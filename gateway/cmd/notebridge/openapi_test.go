package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestOpenAPICommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := runOpenAPI([]string{"-contracts-dir", "../../../testdata/contracts"}, &stdout, &stderr); err != nil {
		t.Fatalf("openapi: %v\n%s", err, stderr.String())
	}
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("the output is not JSON: %v", err)
	}
	if doc.OpenAPI != "3.1.0" || doc.Paths["/api/echo/v1"] == nil {
		t.Errorf("got openapi %q with %d paths; want 3.1.0 with /api/echo/v1", doc.OpenAPI, len(doc.Paths))
	}

	out := filepath.Join(t.TempDir(), "openapi.json")
	if err := runOpenAPI([]string{"-contracts-dir", "../../../testdata/contracts", "-o", out}, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatal(err)
	}
	if written, err := os.ReadFile(out); err != nil || !bytes.Equal(written, stdout.Bytes()) {
		t.Errorf("-o wrote %d bytes (%v); want the %d bytes of standard output", len(written), err, stdout.Len())
	}
}

func TestOpenAPICommandFailures(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no manifests", []string{"-contracts-dir", t.TempDir()}},
		{"stray argument", []string{"-contracts-dir", "../../../testdata/contracts", "extra"}},
		{"unknown flag", []string{"-nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout bytes.Buffer
			if err := runOpenAPI(tt.args, &stdout, &bytes.Buffer{}); err == nil {
				t.Errorf("got no error; want one")
			}
			if stdout.Len() != 0 {
				t.Errorf("wrote %d bytes to standard output; want none", stdout.Len())
			}
		})
	}
}
