package contracts

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/notebridge/notebridge/gateway/jsoneq"
)

// manifestVectors is protocol/vectors/manifests.json, which the Python
// SDK's tests check too.
type manifestVectors struct {
	Bases map[string]map[string]json.RawMessage `json:"bases"`
	Cases []struct {
		Name         string                     `json:"name"`
		Base         string                     `json:"base"`
		With         map[string]json.RawMessage `json:"with"`
		Without      []string                   `json:"without"`
		Problems     []string                   `json:"problems"`
		BeyondSchema bool                       `json:"beyond_schema"`
	} `json:"cases"`
}

func loadManifestVectors(t *testing.T) manifestVectors {
	t.Helper()
	raw, err := os.ReadFile("../../protocol/vectors/manifests.json")
	if err != nil {
		t.Fatal(err)
	}
	var v manifestVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Cases) == 0 {
		t.Fatal("protocol/vectors/manifests.json has no cases")
	}
	return v
}

// The gateway finds each shared manifest's problems where the vectors say:
// the Python SDK's tests check the same cases against its loader.
func TestManifestVectors(t *testing.T) {
	v := loadManifestVectors(t)
	schema, err := jsonschema.Compile("../../protocol/manifest.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range v.Cases {
		t.Run(tt.Name, func(t *testing.T) {
			base, ok := v.Bases[tt.Base]
			if !ok {
				t.Fatalf("no base %q", tt.Base)
			}
			members := maps.Clone(base)
			maps.Copy(members, tt.With)
			for _, name := range tt.Without {
				delete(members, name)
			}
			raw, err := json.Marshal(members)
			if err != nil {
				t.Fatal(err)
			}
			m, found := decodeManifest("m.json", raw)
			found = append(found, m.problems("m.json")...)
			pointers := map[string]bool{}
			for _, f := range found {
				pointers[f.Pointer] = true
			}
			got := slices.Sorted(maps.Keys(pointers))
			want := slices.Sorted(slices.Values(tt.Problems))
			if !slices.Equal(got, want) {
				t.Errorf("problems at %v; want at %v: %v", got, want, found)
			}

			// The manifest's JSON Schema agrees, but on rules that relate two members.
			var doc any
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			err = schema.Validate(doc)
			if valid := err == nil; !tt.BeyondSchema && valid != (len(want) == 0) {
				t.Errorf("manifest.schema.json says valid %v; want %v (%v)", valid, len(want) == 0, err)
			}
		})
	}
}

// The manifests the project ships are valid against the manifest's schema.
func TestShippedManifestsMatchTheSchema(t *testing.T) {
	schema, err := jsonschema.Compile("../../protocol/manifest.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"../../contracts", "../../testdata/contracts"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".json") {
				continue
			}
			raw, err := os.ReadFile(dir + "/" + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			var doc any
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(doc); err != nil {
				t.Errorf("%s: %v", e.Name(), err)
			}
		}
	}
}

// The gateway merges stream chunks as protocol/vectors/merge.json says.
func TestMergeVectors(t *testing.T) {
	raw, err := os.ReadFile("../../protocol/vectors/merge.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Cases []struct {
			Name   string   `json:"name"`
			Merge  Merge    `json:"merge"`
			Chunks []string `json:"chunks"`
			Reply  string   `json:"reply"`
			Error  bool     `json:"error"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Cases) == 0 {
		t.Fatal("protocol/vectors/merge.json has no cases")
	}
	for _, tt := range v.Cases {
		t.Run(tt.Name, func(t *testing.T) {
			var chunks []json.RawMessage
			for _, c := range tt.Chunks {
				chunks = append(chunks, json.RawMessage(c))
			}
			got, err := tt.Merge.Apply(chunks)
			if tt.Error {
				if !errors.Is(err, ErrMerge) {
					t.Errorf("got %s, %v; want an error wrapping ErrMerge", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gotValue, err := DecodeJSON(got)
			if err != nil {
				t.Fatalf("the reply %s is not JSON: %v", got, err)
			}
			want, err := DecodeJSON([]byte(tt.Reply))
			if err != nil {
				t.Fatal(err)
			}
			if diffs := jsoneq.Diff(gotValue, want); len(diffs) > 0 {
				t.Errorf("got %s; want %s: %v", got, tt.Reply, diffs)
			}
		})
	}
}
