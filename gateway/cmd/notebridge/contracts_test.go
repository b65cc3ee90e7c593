package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestContractsCommand(t *testing.T) {
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "x.v1.json"), []byte(`{"name": "x", "version": 1, "colour": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantErr    error  // nil, errContractsFailed, or any error (errAny)
		wantStdout string // a substring
		wantStderr string
	}{
		{"lint passes", []string{"lint", "--contracts-dir", "../../../testdata/contracts"}, nil,
			"contracts lint: 3 contract version(s) in ../../../testdata/contracts: no problems", ""},
		{"lint fails", []string{"lint", "-contracts-dir", broken}, errContractsFailed,
			filepath.Join(broken, "x.v1.json") + `:/colour: unknown field "colour"`, ""},
		{"no command", nil, errAny, "", "usage: notebridge contracts <command>"},
		{"unknown command", []string{"check"}, errAny, "", "usage: notebridge contracts <command>"},
		{"diff needs a ref", []string{"diff"}, errAny, "", ""},
		{"test needs a NATS URL", []string{"test", "--nats", ""}, errAny, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runContracts(context.Background(), tt.args, &stdout, &stderr)
			switch {
			case tt.wantErr == nil && err != nil, tt.wantErr == errAny && err == nil,
				tt.wantErr == errContractsFailed && !errors.Is(err, errContractsFailed):
				t.Fatalf("got err %v; want %v\nstdout: %s\nstderr: %s", err, tt.wantErr, &stdout, &stderr)
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("got stdout\n%s\nwant it to contain %q", &stdout, tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("got stderr\n%s\nwant it to contain %q", &stderr, tt.wantStderr)
			}
		})
	}
}

// errAny stands for "some error" in the table above.
var errAny = errors.New("any error")
