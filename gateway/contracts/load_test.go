package contracts_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/internal/contracttest"
)

func TestLoadShippedContracts(t *testing.T) {
	for _, dir := range []string{"../../contracts", "../../testdata/contracts"} {
		t.Run(dir, func(t *testing.T) {
			reg, err := contracts.Load(dir)
			if err != nil {
				t.Fatalf("Load(%s): %v", dir, err)
			}
			if got := len(reg.All()); got < 2 {
				t.Fatalf("got %d contracts; want at least 2", got)
			}
		})
	}
}

func TestDigestsMatchSharedVectors(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/digests.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]string
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	reg, err := contracts.Load("../../testdata/contracts")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range reg.All() {
		if c.Digest != want[c.ID()] {
			t.Errorf("%s digest = %s; want %s", c.ID(), c.Digest, want[c.ID()])
		}
	}
}

func TestDigestFollowsReferencedFiles(t *testing.T) {
	dir := writeTree(t, validTree())
	before := mustLoad(t, dir).All()[0].Digest
	contracttest.WriteFile(t, filepath.Join(dir, "schemas", "defs.json"), `{"$defs": {"short": {"type": "string", "maxLength": 9}}}`)
	after := mustLoad(t, dir).All()[0].Digest
	if before == after {
		t.Fatalf("digest %s did not change when a $ref'd file changed", before)
	}
	contracttest.WriteFile(t, filepath.Join(dir, "contracts", "t.v1.json"), strings.Replace(validTree()["contracts/t.v1.json"], "A test", "Another test", 1))
	if again := mustLoad(t, dir).All()[0].Digest; again != after {
		t.Fatalf("digest changed from %s to %s when only the description changed", after, again)
	}
}

func TestDigestIgnoresAnnotations(t *testing.T) {
	before := mustLoad(t, writeTree(t, validTree())).All()[0].Digest
	tests := []struct {
		name, file, content string
		same                bool
	}{
		{"a description and a title", "schemas/req.json", `{"title": "Request", "description": "what to shorten",
			"type": "object", "required": ["text"], "properties": {"text": {"$ref": "defs.json#/$defs/short", "description": "the text"}}}`, true},
		{"examples and a comment in a referenced file", "schemas/defs.json", `{"$comment": "shared", "$defs": {"short": {"type": "string", "maxLength": 8, "examples": ["hi"]}}}`, true},
		{"whitespace and key order", "schemas/resp.json", "{\n  \"required\": [\"text\"],\n  \"type\": \"object\"\n}", true},
		{"a property called description", "schemas/resp.json", `{"type": "object", "required": ["text"], "properties": {"description": {"type": "string"}}}`, false},
		{"a default", "schemas/defs.json", `{"$defs": {"short": {"type": "string", "maxLength": 8, "default": "x"}}}`, false},
		{"a limit", "schemas/defs.json", `{"$defs": {"short": {"type": "string", "maxLength": 9}}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := validTree()
			tree[tt.file] = tt.content
			after := mustLoad(t, writeTree(t, tree)).All()[0].Digest
			if (after == before) != tt.same {
				t.Errorf("digest %s, before %s: got same = %v; want %v", after, before, after == before, tt.same)
			}
		})
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name    string
		file    string // path in the tree to overwrite
		content string
		want    []string // substrings of the error
	}{
		{"bad name", "contracts/t.v1.json", contracttest.Manifest(`"name": "Bad Name"`), []string{"t.v1.json", "/name"}},
		{"version zero", "contracts/t.v1.json", contracttest.Manifest(`"version": 0`), []string{"/version"}},
		{"unknown mode", "contracts/t.v1.json", contracttest.Manifest(`"mode": "batch"`), []string{"/mode", "batch"}},
		{"zero timeout", "contracts/t.v1.json", contracttest.Manifest(`"timeout_seconds": 0`), []string{"/timeout_seconds"}},
		{"unknown field", "contracts/t.v1.json", contracttest.Manifest(`"timeout": 3`), []string{`unknown field "timeout"`}},
		{"no examples", "contracts/t.v1.json", contracttest.Manifest(`"examples": []`), []string{"/examples"}},
		{"example breaks request schema", "contracts/t.v1.json", contracttest.Manifest(`"examples": [{"name": "x", "request": {"text": 1}}]`), []string{"/examples/0", "/text"}},
		{"example breaks response schema", "contracts/t.v1.json", contracttest.Manifest(`"examples": [{"name": "x", "request": {"text": "a"}, "response": {}}]`), []string{"/examples/0", "response", `missing required property "text"`}},
		{"missing schema file", "contracts/t.v1.json", contracttest.Manifest(`"request_schema": "../schemas/nope.json"`), []string{"nope.json"}},
		{"schema not a schema", "schemas/req.json", `{"type": "strng"}`, []string{"req.json#/type"}},
		{"look-ahead pattern", "schemas/req.json", `{"type": "object", "properties": {"text": {"type": "string", "pattern": "^(?=a)"}}}`, []string{"req.json#/properties/text/pattern"}},
		{"back-reference in patternProperties", "schemas/req.json", `{"patternProperties": {"(a)\\1": {}}}`, []string{"req.json#/patternProperties"}},
		{"dangling $ref", "schemas/req.json", `{"$ref": "missing.json"}`, []string{"missing.json"}},
		{"malformed manifest", "contracts/t.v1.json", `{"name": `, []string{"t.v1.json"}},
		{"duplicate version", "contracts/t2.v1.json", validTree()["contracts/t.v1.json"], []string{"t.v1.json", "t2.v1.json", "t/v1"}},
		{"job field on a sync contract", "contracts/t.v1.json", contracttest.Manifest(`"max_attempts": 2`), []string{"/mode", "max_attempts"}},
		{"job with zero attempts", "contracts/t.v1.json", contracttest.Manifest(`"mode": "job"`, `"max_attempts": 0`), []string{"/max_attempts"}},
		{"job with too many attempts", "contracts/t.v1.json", contracttest.Manifest(`"mode": "job"`, `"max_attempts": 101`), []string{"/max_attempts"}},
		{"job with zero ack wait", "contracts/t.v1.json", contracttest.Manifest(`"mode": "job"`, `"ack_wait_seconds": 0`), []string{"/ack_wait_seconds"}},
		{"job with a chunk schema", "contracts/t.v1.json", contracttest.Manifest(`"mode": "job"`, `"chunk_schema": "../schemas/resp.json"`), []string{"/mode", "chunk_schema"}},
		{"job without a response schema", "contracts/t.v1.json", contracttest.Manifest(`"mode": "job"`, `"response_schema": ""`), []string{"/response_schema"}},
		{"job attempt over a day", "contracts/t.v1.json", contracttest.Manifest(`"mode": "job"`, `"timeout_seconds": 86401`), []string{"/timeout_seconds"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := validTree()
			tree[tt.file] = tt.content
			_, err := contracts.Load(filepath.Join(writeTree(t, tree), "contracts"))
			if !errors.Is(err, contracts.ErrInvalidContract) {
				t.Fatalf("got err %v; want ErrInvalidContract", err)
			}
			t.Logf("error: %v", err)
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestLoadJobContract(t *testing.T) {
	tests := []struct {
		name        string
		overrides   []string
		maxAttempts int
		ackWait     time.Duration
	}{
		{"defaults", nil, 3, 30 * time.Second},
		{"set", []string{`"max_attempts": 5`, `"ack_wait_seconds": 0.5`}, 5, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := validTree()
			tree["contracts/t.v1.json"] = contracttest.Manifest(append([]string{`"mode": "job"`, `"timeout_seconds": 7200`}, tt.overrides...)...)
			ct := mustLoad(t, writeTree(t, tree)).All()[0]
			if ct.Mode != contracts.ModeJob || ct.MaxAttempts != tt.maxAttempts || ct.AckWait != tt.ackWait {
				t.Errorf("got mode %s, max attempts %d, ack wait %s; want job, %d, %s", ct.Mode, ct.MaxAttempts, ct.AckWait, tt.maxAttempts, tt.ackWait)
			}
			if ct.Subject != "nb.jobs.t.v1" || ct.Timeout != 2*time.Hour {
				t.Errorf("got subject %s, timeout %s; want nb.jobs.t.v1, 2h0m0s", ct.Subject, ct.Timeout)
			}
		})
	}
}

func TestLoadEmptyDir(t *testing.T) {
	if _, err := contracts.Load(t.TempDir()); !errors.Is(err, contracts.ErrInvalidContract) {
		t.Fatalf("got err %v; want ErrInvalidContract", err)
	}
}

// validTree is a minimal valid contracts/ and schemas/ tree with a $ref
// between schema files.
func validTree() map[string]string {
	return map[string]string{
		"contracts/t.v1.json": contracttest.Manifest(),
		"schemas/defs.json":   `{"$defs": {"short": {"type": "string", "maxLength": 8}}}`,
		"schemas/req.json":    `{"type": "object", "required": ["text"], "properties": {"text": {"$ref": "defs.json#/$defs/short"}}}`,
		"schemas/resp.json":   `{"type": "object", "required": ["text"]}`,
	}
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	contracttest.Tree(files).Write(t, dir)
	return dir
}

func mustLoad(t *testing.T, dir string) *contracts.Registry {
	t.Helper()
	reg, err := contracts.Load(filepath.Join(dir, "contracts"))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}
