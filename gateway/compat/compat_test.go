package compat_test

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/notebridge/notebridge/gateway/compat"
)

// schemaPair is an old and a new version of a schema, with the files it
// references ($ref) in each version.
type schemaPair struct {
	name      string
	dir       compat.Direction
	old, new  string
	oldFiles  map[string]string // extra files next to the old schema
	newFiles  map[string]string
	wantRules []string // nil: compatible
}

const (
	obj    = `"type": "object"`
	closed = `"type": "object", "additionalProperties": false`
)

var pairs = []schemaPair{
	// Requests: every request valid before must stay valid (BACKWARD).
	{name: "request: new required property", dir: compat.Request,
		old:       `{` + closed + `, "properties": {"text": {"type": "string"}, "lang": {"type": "string"}}, "required": ["text"]}`,
		new:       `{` + closed + `, "properties": {"text": {"type": "string"}, "lang": {"type": "string"}}, "required": ["text", "lang"]}`,
		wantRules: []string{"required-added"}},
	{name: "request: required property becomes optional", dir: compat.Request,
		old: `{` + closed + `, "properties": {"text": {"type": "string"}}, "required": ["text"]}`,
		new: `{` + closed + `, "properties": {"text": {"type": "string"}}}`},
	{name: "request: new optional property in a closed model", dir: compat.Request,
		old: `{` + closed + `, "properties": {"text": {"type": "string"}}}`,
		new: `{` + closed + `, "properties": {"text": {"type": "string"}, "lang": {"type": "string"}}}`},
	{name: "request: new typed property in an open model", dir: compat.Request,
		old:       `{` + obj + `, "properties": {"text": {"type": "string"}}}`,
		new:       `{` + obj + `, "properties": {"text": {"type": "string"}, "lang": {"type": "string"}}}`,
		wantRules: []string{"property-added-to-open-model"}},
	{name: "request: property removed from a closed model", dir: compat.Request,
		old:       `{` + closed + `, "properties": {"text": {"type": "string"}, "lang": {"type": "string"}}}`,
		new:       `{` + closed + `, "properties": {"text": {"type": "string"}}}`,
		wantRules: []string{"property-removed"}},
	{name: "request: narrowed type", dir: compat.Request,
		old:       `{"type": ["string", "null"]}`,
		new:       `{"type": "string"}`,
		wantRules: []string{"type-narrowed"}},
	{name: "request: widened type", dir: compat.Request,
		old: `{"type": "integer"}`,
		new: `{"type": "number"}`},
	{name: "request: changed type", dir: compat.Request,
		old:       `{"type": "string"}`,
		new:       `{"type": "integer"}`,
		wantRules: []string{"type-changed"}},
	{name: "request: removed enum value", dir: compat.Request,
		old:       `{"enum": ["positive", "negative", "neutral"]}`,
		new:       `{"enum": ["positive", "negative"]}`,
		wantRules: []string{"enum-value-removed"}},
	{name: "request: added enum value", dir: compat.Request,
		old: `{"enum": ["positive", "negative"]}`,
		new: `{"enum": ["positive", "negative", "neutral"]}`},
	{name: "request: const added", dir: compat.Request,
		old:       `{"type": "string"}`,
		new:       `{"type": "string", "const": "v1"}`,
		wantRules: []string{"enum-added"}},
	{name: "request: maxLength decreased", dir: compat.Request,
		old:       `{"type": "string", "maxLength": 100}`,
		new:       `{"type": "string", "maxLength": 50}`,
		wantRules: []string{"maxLength-decreased"}},
	{name: "request: maxLength increased", dir: compat.Request,
		old: `{"type": "string", "maxLength": 50}`,
		new: `{"type": "string", "maxLength": 100}`},
	{name: "request: minLength added", dir: compat.Request,
		old:       `{"type": "string"}`,
		new:       `{"type": "string", "minLength": 1}`,
		wantRules: []string{"minLength-added"}},
	{name: "request: minimum added, maximum removed", dir: compat.Request,
		old:       `{"type": "integer", "maximum": 20}`,
		new:       `{"type": "integer", "minimum": 1}`,
		wantRules: []string{"minimum-added"}},
	{name: "request: maximum made exclusive", dir: compat.Request,
		old:       `{"type": "number", "maximum": 1}`,
		new:       `{"type": "number", "exclusiveMaximum": 1}`,
		wantRules: []string{"exclusiveMaximum-added"}},
	{name: "request: bounds compared as exact decimals", dir: compat.Request,
		old: `{"type": "number", "maximum": 0.30000000000000001}`,
		new: `{"type": "number", "maximum": 0.3000000000000000100000001}`},
	{name: "request: multipleOf added", dir: compat.Request,
		old:       `{"type": "number"}`,
		new:       `{"type": "number", "multipleOf": 0.5}`,
		wantRules: []string{"multipleOf-narrowed"}},
	{name: "request: pattern added", dir: compat.Request,
		old:       `{"type": "string"}`,
		new:       `{"type": "string", "pattern": "^[a-z]+$"}`,
		wantRules: []string{"pattern-added"}},
	{name: "request: additionalProperties turned false", dir: compat.Request,
		old:       `{` + obj + `, "properties": {"text": {"type": "string"}}}`,
		new:       `{` + closed + `, "properties": {"text": {"type": "string"}}}`,
		wantRules: []string{"additionalProperties-closed"}},
	{name: "request: additionalProperties opened", dir: compat.Request,
		old: `{` + closed + `, "properties": {"text": {"type": "string"}}}`,
		new: `{` + obj + `, "properties": {"text": {"type": "string"}}}`},
	{name: "request: oneOf branch removed", dir: compat.Request,
		old:       `{"oneOf": [{"type": "string"}, {"type": "integer"}]}`,
		new:       `{"oneOf": [{"type": "string"}]}`,
		wantRules: []string{"oneOf-branch-removed"}},
	{name: "request: oneOf branch added", dir: compat.Request,
		old: `{"oneOf": [{"type": "string"}, {"type": "integer"}]}`,
		new: `{"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}`},
	{name: "request: anyOf branches reordered", dir: compat.Request,
		old: `{"anyOf": [{"type": "string", "maxLength": 5}, {"type": "integer"}]}`,
		new: `{"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 9}]}`},
	{name: "request: anyOf became oneOf", dir: compat.Request,
		old:       `{"anyOf": [{"type": "number"}, {"type": "integer"}]}`,
		new:       `{"oneOf": [{"type": "number"}, {"type": "integer"}]}`,
		wantRules: []string{"anyOf-to-oneOf"}},
	{name: "request: items narrowed", dir: compat.Request,
		old:       `{"type": "array", "items": {"type": ["string", "integer"]}}`,
		new:       `{"type": "array", "items": {"type": "string"}}`,
		wantRules: []string{"type-narrowed"}},
	{name: "request: maxItems and uniqueItems added", dir: compat.Request,
		old:       `{"type": "array"}`,
		new:       `{"type": "array", "maxItems": 10, "uniqueItems": true}`,
		wantRules: []string{"maxItems-added", "uniqueItems-added"}},
	{name: "request: $ref target in another file tightened", dir: compat.Request,
		old:       `{` + closed + `, "properties": {"text": {"$ref": "defs.json#/$defs/text"}}}`,
		new:       `{` + closed + `, "properties": {"text": {"$ref": "defs.json#/$defs/text"}}}`,
		oldFiles:  map[string]string{"defs.json": `{"$defs": {"text": {"type": "string", "maxLength": 64}}}`},
		newFiles:  map[string]string{"defs.json": `{"$defs": {"text": {"type": "string", "maxLength": 32}}}`},
		wantRules: []string{"maxLength-decreased"}},
	{name: "request: $ref sibling keyword tighter than its target", dir: compat.Request,
		old:       `{"$ref": "defs.json#/$defs/text"}`,
		new:       `{"$ref": "defs.json#/$defs/text", "maxLength": 10}`,
		oldFiles:  map[string]string{"defs.json": `{"$defs": {"text": {"type": "string", "maxLength": 64}}}`},
		newFiles:  map[string]string{"defs.json": `{"$defs": {"text": {"type": "string", "maxLength": 64}}}`},
		wantRules: []string{"maxLength-decreased"}},
	{name: "request: $ref inlined without change", dir: compat.Request,
		old:      `{"$ref": "#/$defs/t", "$defs": {"t": {"type": "string", "minLength": 1}}}`,
		new:      `{"type": "string", "minLength": 1}`,
		oldFiles: map[string]string{}},
	{name: "request: recursive $ref unchanged", dir: compat.Request,
		old: `{"$defs": {"tree": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/tree"}}}}}, "$ref": "#/$defs/tree"}`,
		new: `{"$defs": {"tree": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/tree"}}}}}, "$ref": "#/$defs/tree"}`},
	{name: "request: annotations only", dir: compat.Request,
		old: `{"type": "string", "title": "a", "description": "old", "default": "x", "format": "email"}`,
		new: `{"type": "string", "title": "b", "description": "new", "default": "y", "examples": ["z"]}`},
	{name: "request: allOf branch tightens a bound", dir: compat.Request,
		old:       `{"allOf": [{"type": "integer"}, {"minimum": 0}]}`,
		new:       `{"allOf": [{"type": "integer"}, {"minimum": 0}, {"maximum": 9}]}`,
		wantRules: []string{"maximum-added"}},

	// Responses: every reply valid now must be valid for consumers of the
	// old schema (FORWARD).
	{name: "response: required property removed", dir: compat.Response,
		old:       `{` + closed + `, "properties": {"label": {"type": "string"}, "score": {"type": "number"}}, "required": ["label", "score"]}`,
		new:       `{` + closed + `, "properties": {"label": {"type": "string"}}, "required": ["label"]}`,
		wantRules: []string{"required-removed"}},
	{name: "response: property renamed", dir: compat.Response,
		old:       `{` + closed + `, "properties": {"summary": {"type": "string"}}, "required": ["summary"]}`,
		new:       `{` + closed + `, "properties": {"abstract": {"type": "string"}}, "required": ["abstract"]}`,
		wantRules: []string{"property-added", "required-removed"}},
	{name: "response: optional property removed from a closed model", dir: compat.Response,
		old: `{` + closed + `, "properties": {"label": {"type": "string"}, "note": {"type": "string"}}, "required": ["label"]}`,
		new: `{` + closed + `, "properties": {"label": {"type": "string"}}, "required": ["label"]}`},
	{name: "response: property removed from an open model", dir: compat.Response,
		old:       `{` + obj + `, "properties": {"label": {"type": "string"}, "note": {"type": "string"}}}`,
		new:       `{` + obj + `, "properties": {"label": {"type": "string"}}}`,
		wantRules: []string{"property-removed-from-open-model"}},
	{name: "response: new optional property, old model closed", dir: compat.Response,
		old:       `{` + closed + `, "properties": {"label": {"type": "string"}}}`,
		new:       `{` + closed + `, "properties": {"label": {"type": "string"}, "score": {"type": "number"}}}`,
		wantRules: []string{"property-added"}},
	{name: "response: new property, old model open", dir: compat.Response,
		old: `{` + obj + `, "properties": {"label": {"type": "string"}}}`,
		new: `{` + obj + `, "properties": {"label": {"type": "string"}, "score": {"type": "number"}}}`},
	{name: "response: new required property", dir: compat.Response,
		old: `{` + obj + `, "properties": {"label": {"type": "string"}}}`,
		new: `{` + obj + `, "properties": {"label": {"type": "string"}}, "required": ["label"]}`},
	{name: "response: widened type", dir: compat.Response,
		old:       `{"type": "string"}`,
		new:       `{"type": ["string", "null"]}`,
		wantRules: []string{"type-widened"}},
	{name: "response: narrowed type", dir: compat.Response,
		old: `{"type": "number"}`,
		new: `{"type": "integer"}`},
	{name: "response: new enum value", dir: compat.Response,
		old:       `{"enum": ["positive", "negative"]}`,
		new:       `{"enum": ["positive", "negative", "neutral"]}`,
		wantRules: []string{"enum-value-added"}},
	{name: "response: enum value removed", dir: compat.Response,
		old: `{"enum": ["positive", "negative", "neutral"]}`,
		new: `{"enum": ["positive", "negative"]}`},
	{name: "response: enum dropped", dir: compat.Response,
		old:       `{"type": "string", "enum": ["a", "b"]}`,
		new:       `{"type": "string"}`,
		wantRules: []string{"enum-removed"}},
	{name: "response: maxLength increased", dir: compat.Response,
		old:       `{"type": "string", "maxLength": 50}`,
		new:       `{"type": "string", "maxLength": 100}`,
		wantRules: []string{"maxLength-increased"}},
	{name: "response: maximum removed", dir: compat.Response,
		old:       `{"type": "number", "minimum": 0, "maximum": 1}`,
		new:       `{"type": "number", "minimum": 0}`,
		wantRules: []string{"maximum-removed"}},
	{name: "response: tighter bounds", dir: compat.Response,
		old: `{"type": "number", "minimum": 0, "maximum": 1}`,
		new: `{"type": "number", "minimum": 0.5, "exclusiveMaximum": 1}`},
	{name: "response: additionalProperties opened", dir: compat.Response,
		old:       `{` + closed + `, "properties": {"label": {"type": "string"}}}`,
		new:       `{` + obj + `, "properties": {"label": {"type": "string"}}}`,
		wantRules: []string{"additionalProperties-opened"}},
	{name: "response: new oneOf branch", dir: compat.Response,
		old:       `{"oneOf": [{"type": "string"}, {"type": "integer"}]}`,
		new:       `{"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}`,
		wantRules: []string{"oneOf-branch-added"}},
	{name: "response: oneOf branch removed", dir: compat.Response,
		old: `{"oneOf": [{"type": "string"}, {"type": "integer"}]}`,
		new: `{"oneOf": [{"type": "string"}]}`},
	{name: "response: oneOf replaced by one of its branches", dir: compat.Response,
		old: `{"oneOf": [{"type": "string"}, {"type": "integer"}]}`,
		new: `{"type": "string", "maxLength": 5}`},
	{name: "response: $ref target in another file gains an enum value", dir: compat.Response,
		old:       `{` + closed + `, "properties": {"label": {"$ref": "common.json#/$defs/label"}}}`,
		new:       `{` + closed + `, "properties": {"label": {"$ref": "common.json#/$defs/label"}}}`,
		oldFiles:  map[string]string{"common.json": `{"$defs": {"label": {"enum": ["positive", "negative"]}}}`},
		newFiles:  map[string]string{"common.json": `{"$defs": {"label": {"enum": ["positive", "negative", "mixed"]}}}`},
		wantRules: []string{"enum-value-added"}},
	{name: "response: array items widened", dir: compat.Response,
		old:       `{"type": "array", "items": {"type": "object", "properties": {"score": {"type": "number", "minimum": 0}}}}`,
		new:       `{"type": "array", "items": {"type": "object", "properties": {"score": {"type": "number"}}}}`,
		wantRules: []string{"minimum-removed"}},
	{name: "response: uniqueItems dropped", dir: compat.Response,
		old:       `{"type": "array", "uniqueItems": true}`,
		new:       `{"type": "array"}`,
		wantRules: []string{"uniqueItems-removed"}},
}

func TestCompare(t *testing.T) {
	for _, tc := range pairs {
		t.Run(tc.name, func(t *testing.T) {
			oldFile := writeSchema(t, tc.old, tc.oldFiles)
			newFile := writeSchema(t, tc.new, tc.newFiles)
			changes, err := compat.Compare(compat.Schema{File: oldFile}, compat.Schema{File: newFile}, tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ch := range changes {
				got = append(got, ch.Rule)
				t.Logf("%s", ch)
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tc.wantRules) {
				t.Errorf("got rules %v; want %v", got, tc.wantRules)
			}
		})
	}
}

func TestCompareLocatesTheChange(t *testing.T) {
	tests := []struct {
		name              string
		dir               compat.Direction
		old, new          string
		files             map[string]string // new side's extra files; the old side gets defs.json with maxLength 64
		wantFile, wantPtr string
		wantMessage       string
	}{
		{
			name:        "required entry in the new schema",
			dir:         compat.Request,
			old:         `{"type": "object", "properties": {"a": {}}}`,
			new:         `{"type": "object", "properties": {"a": {}}, "required": ["a"]}`,
			wantFile:    "schema.json",
			wantPtr:     "/required/0",
			wantMessage: `property "a" is required now`,
		},
		{
			name:        "keyword in the referenced file",
			dir:         compat.Request,
			old:         `{"properties": {"t": {"$ref": "defs.json#/$defs/t"}}}`,
			new:         `{"properties": {"t": {"$ref": "defs.json#/$defs/t"}}}`,
			files:       map[string]string{"defs.json": `{"$defs": {"t": {"type": "string", "maxLength": 8}}}`},
			wantFile:    "defs.json",
			wantPtr:     "/$defs/t/maxLength",
			wantMessage: "maxLength decreased from 64 to 8",
		},
		{
			name:        "removed keyword, where it was",
			dir:         compat.Response,
			old:         `{"properties": {"t": {"type": "string", "maxLength": 8}}}`,
			new:         `{"properties": {"t": {"type": "string"}}}`,
			wantFile:    "schema.json",
			wantPtr:     "/properties/t/maxLength",
			wantMessage: "maxLength removed (it was 8)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldFile := writeSchema(t, tt.old, map[string]string{"defs.json": `{"$defs": {"t": {"type": "string", "maxLength": 64}}}`})
			newFile := writeSchema(t, tt.new, tt.files)
			changes, err := compat.Compare(compat.Schema{File: oldFile}, compat.Schema{File: newFile}, tt.dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(changes) != 1 {
				t.Fatalf("got %d changes %v; want 1", len(changes), changes)
			}
			ch := changes[0]
			if got := filepath.Base(ch.File); got != tt.wantFile || ch.Pointer != tt.wantPtr {
				t.Errorf("got %s:%s; want %s:%s", got, ch.Pointer, tt.wantFile, tt.wantPtr)
			}
			if ch.Message != tt.wantMessage {
				t.Errorf("got message %q; want %q", ch.Message, tt.wantMessage)
			}
		})
	}
}

func TestCompareShippedSchemasWithThemselves(t *testing.T) {
	files, err := filepath.Glob("../../schemas/*/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("got %d schema files (err %v); want some", len(files), err)
	}
	for _, f := range files {
		for _, dir := range []compat.Direction{compat.Request, compat.Response} {
			changes, err := compat.Compare(compat.Schema{File: f}, compat.Schema{File: f}, dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(changes) > 0 {
				t.Errorf("%s as a %s: got %v; want no change", f, dir, changes)
			}
		}
	}
}

func TestCompareUnresolvableRef(t *testing.T) {
	old := writeSchema(t, `{"type": "string"}`, nil)
	bad := writeSchema(t, `{"$ref": "missing.json"}`, nil)
	_, err := compat.Compare(compat.Schema{File: old}, compat.Schema{File: bad}, compat.Request)
	if err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Fatalf("got err %v; want one naming missing.json", err)
	}
}

// writeSchema writes schema.json and the extra files into a new directory.
func writeSchema(t *testing.T, schema string, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"schema.json": schema}
	for name, content := range extra {
		files[name] = content
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "schema.json")
}
