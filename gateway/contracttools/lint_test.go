package contracttools_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/notebridge/notebridge/gateway/contracttools"
	"github.com/notebridge/notebridge/gateway/internal/contracttest"
)

func TestLintShippedContracts(t *testing.T) {
	rep := contracttools.Lint("../../contracts", "../../testdata/contracts")
	if !rep.OK() {
		t.Fatalf("got findings %v; want none", rep.Findings)
	}
	manifests, _ := filepath.Glob("../../contracts/*.json")
	tests, _ := filepath.Glob("../../testdata/contracts/*.json")
	if want := len(manifests) + len(tests); rep.Contracts != want {
		t.Errorf("got %d contracts; want %d, one per manifest", rep.Contracts, want)
	}
}

func TestLintFindsEachClassOfError(t *testing.T) {
	tests := []struct {
		name  string
		files contracttest.Tree
		want  []string // "file:pointer: message" lines, each a substring of one finding
	}{
		{"schema does not compile", contracttest.Tree{"schemas/req.json": `{"type": "strng"}`},
			[]string{"schemas/req.json:/type: value must be one of"}},
		{"pattern Go cannot compile", contracttest.Tree{"schemas/resp.json": `{"properties": {"text": {"pattern": "^(?!x)"}}}`},
			[]string{"schemas/resp.json:/properties/text/pattern: not RE2: invalid or unsupported Perl syntax: `(?!`"}},
		// The OpenAPI document cannot bundle such a $ref: the gateway would
		// not start, so lint must say so first.
		{"$ref to a $id", contracttest.Tree{"schemas/resp.json": `{"$defs": {"t": {"$id": "https://x.invalid/t", "type": "string"}}, "properties": {"text": {"$ref": "https://x.invalid/t"}}}`},
			[]string{
				`schemas/resp.json:/$defs/t/$id: $id is not supported: a contract schema is known by its file; remove $id, and $ref other files by their path relative to this one ("common.json#/$defs/name")`,
				`schemas/resp.json:/properties/text/$ref: $ref "https://x.invalid/t" is not a path relative to this file`,
			}},
		{"a construct the worker would judge otherwise", contracttest.Tree{"schemas/req.json": `{"type": "object", "properties": {"text": {"type": "string", "maxLength": 2.0, "enum": []}}}`},
			[]string{
				`schemas/req.json:/properties/text/enum: enum [] allows no value: write false for a schema that nothing may match`,
				`schemas/req.json:/properties/text/maxLength: maxLength 2.0: a count is written as a whole number, without a fraction or an exponent: write 2`,
			}},
		{"no examples", contracttest.Tree{"contracts/t.v1.json": contracttest.Manifest(`"examples": []`)},
			[]string{"contracts/t.v1.json:/examples: a contract needs at least one example"}},
		{"example without request", contracttest.Tree{"contracts/t.v1.json": contracttest.Manifest(`"examples": [{"name": "x"}]`)},
			[]string{`contracts/t.v1.json:/examples/0/request: example "x" has no request`}},
		{"example request breaks its schema", contracttest.Tree{"contracts/t.v1.json": contracttest.Manifest(`"examples": [{"name": "x", "request": {"text": 1, "more": 2}}]`)},
			[]string{
				`contracts/t.v1.json:/examples/0/request: example "x": request: additionalProperties 'more' not allowed`,
				`contracts/t.v1.json:/examples/0/request/text: example "x": request: expected string, but got number`,
			}},
		{"example response breaks its schema", contracttest.Tree{"contracts/t.v1.json": contracttest.Manifest(`"examples": [{"name": "x", "request": {"text": "a"}, "response": {}}]`)},
			[]string{`contracts/t.v1.json:/examples/0/response: example "x": response: missing required property "text"`}},
		{"malformed name and version", contracttest.Tree{"contracts/t.v1.json": contracttest.Manifest(`"name": "Bad Name"`, `"version": 0`)},
			[]string{"contracts/t.v1.json:/name: \"Bad Name\" must match", "contracts/t.v1.json:/version: 0 must be an integer >= 1"}},
		{"version of the wrong type", contracttest.Tree{"contracts/t.v1.json": contracttest.Manifest(`"version": "1"`)},
			[]string{"contracts/t.v1.json:/version: a JSON string cannot be a Go int"}},
		{"unknown manifest fields", contracttest.Tree{"contracts/t.v1.json": contracttest.Manifest(`"timeout": 3`, `"owner": "me"`)},
			[]string{`contracts/t.v1.json:/owner: unknown field "owner"`, `contracts/t.v1.json:/timeout: unknown field "timeout"`}},
		{"unknown example field", contracttest.Tree{"contracts/t.v1.json": contracttest.Manifest(`"examples": [{"name": "x", "request": {"text": "a"}, "expect": {}}]`)},
			[]string{`contracts/t.v1.json:/examples/0/expect: unknown field "expect"`}},
		{"two contracts claim one subject", contracttest.Tree{"contracts/u.v1.json": contracttest.Manifest()},
			[]string{"contracts/u.v1.json:/version: t/v1 (subject nb.t.v1) is also defined by"}},
		{"file not named after the contract", contracttest.Tree{"contracts/t.v1.json": "", "contracts/other.json": contracttest.Manifest()},
			[]string{"contracts/other.json: the file of t/v1 must be named t.v1.json, not other.json"}},
		{"examples without a name, or with the same one", contracttest.Tree{"contracts/t.v1.json": contracttest.Manifest(`"examples": [{"request": {"text": "a"}}, {"name": "x", "request": {"text": "b"}}, {"name": "x", "request": {"text": "c"}}]`)},
			[]string{"contracts/t.v1.json:/examples/0/name: every example needs a name", `contracts/t.v1.json:/examples/2/name: example name "x" is already used by /examples/1`}},
		{"missing schema file", contracttest.Tree{"contracts/t.v1.json": contracttest.Manifest(`"response_schema": "../schemas/nope.json"`)},
			[]string{"contracts/t.v1.json:/response_schema: cannot read"}},
		{"manifest is not JSON", contracttest.Tree{"contracts/t.v1.json": `{"name": `},
			[]string{"contracts/t.v1.json: not JSON: unexpected end of JSON input at line 1, column 9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			files := validTree().With(tt.files)
			for name, content := range files {
				if content == "" {
					delete(files, name)
				}
			}
			files.Write(t, root)
			t.Chdir(root)
			rep := contracttools.Lint("contracts")
			if rep.OK() {
				t.Fatal("got no findings; want some")
			}
			var lines []string
			for _, f := range rep.Findings {
				lines = append(lines, f.String())
			}
			all := strings.Join(lines, "\n")
			for _, want := range tt.want {
				if !strings.Contains(all, want) {
					t.Errorf("got findings\n%s\nwant one containing %q", all, want)
				}
			}
			if len(rep.Findings) != len(tt.want) {
				t.Errorf("got %d findings\n%s\nwant %d", len(rep.Findings), all, len(tt.want))
			}
		})
	}
}

func TestLintReportsEveryProblemAtOnce(t *testing.T) {
	root := t.TempDir()
	validTree().With(contracttest.Tree{
		"contracts/t.v1.json": contracttest.Manifest(`"mode": "batch"`, `"timeout_seconds": 0`, `"colour": "red"`),
		"schemas/req.json":    `{"type": "object", "properties": {"a": {"type": "strng"}, "b": {"minLength": -1}}}`,
		"contracts/u.v1.json": contracttest.Manifest(`"name": "u"`, `"examples": []`),
	}).Write(t, root)
	t.Chdir(root)

	rep := contracttools.Lint("contracts")
	var out bytes.Buffer
	if err := rep.Write(&out); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`contracts/t.v1.json:/colour: unknown field "colour"`,
		`contracts/t.v1.json:/mode: "batch" is not supported`,
		`contracts/t.v1.json:/timeout_seconds: 0 must be > 0`,
		filepath.FromSlash("schemas/req.json") + `:/properties/a/type: value must be one of`,
		filepath.FromSlash("schemas/req.json") + `:/properties/b/minLength: must be >= 0`,
		`contracts/u.v1.json:/examples: a contract needs at least one example`,
		"contracts lint: 6 problem(s) in 3 file(s)",
	}
	for _, w := range want {
		if !strings.Contains(out.String(), w) {
			t.Errorf("got\n%s\nwant a line containing %q", out.String(), w)
		}
	}
}
