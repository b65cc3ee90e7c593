package api

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/notebridge/notebridge/gateway/contracts"
)

var update = flag.Bool("update", false, "rewrite docs/http-api.md's problem table from the catalog")

const httpAPIDoc = "../../docs/http-api.md"

// problemTable renders the catalog as docs/http-api.md's table.
func problemTable() string {
	var b strings.Builder
	b.WriteString("| status | `type` (after `urn:notebridge:problem:`) | when | extra members |\n| --- | --- | --- | --- |\n")
	for _, c := range problemClasses {
		status := strconv.Itoa(c.status)
		if c.status == 0 {
			status = "other"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s|\n", status, c.slug, c.when, c.members+strings.Repeat(" ", min(len(c.members), 1)))
	}
	return b.String()
}

// The table of docs/http-api.md is the catalog's: a class added, renamed
// or given another status in the code and not in the docs fails here.
func TestDocsListEveryProblem(t *testing.T) {
	doc, err := os.ReadFile(httpAPIDoc)
	if err != nil {
		t.Fatal(err)
	}
	header := []byte("| status | `type` (after `urn:notebridge:problem:`)")
	start := bytes.Index(doc, header)
	if start < 0 {
		t.Fatalf("%s has no problem table (a line starting %q)", httpAPIDoc, header)
	}
	end := start + bytes.Index(doc[start:], []byte("\n\n")) + 1
	want := problemTable()
	if got := string(doc[start:end]); got != want {
		if *update {
			out := append(append(append([]byte{}, doc[:start]...), want...), doc[end:]...)
			if err := os.WriteFile(httpAPIDoc, out, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s's problem table differs from the catalog (gateway/api/problemtypes.go); "+
			"go test ./gateway/api -run TestDocsListEveryProblem -update rewrites it.\ngot:\n%s\nwant:\n%s", httpAPIDoc, got, want)
	}
}

// Each class has its own slug, and each shared response of the OpenAPI
// document is used only under the status of its classes.
func TestProblemCatalogAndDocumentAgree(t *testing.T) {
	slugs := map[string]bool{}
	for _, c := range problemClasses {
		if slugs[c.slug] {
			t.Errorf("slug %s is in the catalog twice", c.slug)
		}
		slugs[c.slug] = true
		if c.when == "" {
			t.Errorf("class %s does not say when it happens", c.slug)
		}
	}
	for name, classes := range problemResponses {
		for _, c := range classes {
			if !slugs[c.slug] {
				t.Errorf("response %s lists %s, which is not in problemClasses", name, c.slug)
			}
			if c.status != classes[0].status {
				t.Errorf("response %s mixes statuses %d and %d", name, classes[0].status, c.status)
			}
		}
	}
	reg, err := contracts.Load("../../contracts", "../../testdata/contracts")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := OpenAPI(reg, DocOptions{Keys: true})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(doc)
	var parsed struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &parsed); err != nil {
		t.Fatal(err)
	}
	used := 0
	for path, item := range parsed.Paths {
		for method, op := range item {
			var o struct {
				Responses map[string]struct {
					Ref string `json:"$ref"`
				} `json:"responses"`
			}
			if json.Unmarshal(op, &o) != nil {
				continue // the path item's summary
			}
			for status, r := range o.Responses {
				name, ok := strings.CutPrefix(r.Ref, "#/components/responses/")
				if !ok {
					continue
				}
				used++
				classes := problemResponses[name]
				if len(classes) == 0 || strconv.Itoa(classes[0].status) != status {
					t.Errorf("%s %s answers %s with %s, whose problems are not %s", method, path, status, name, status)
				}
			}
		}
	}
	if used == 0 {
		t.Error("no operation refers to a shared problem response")
	}
}
