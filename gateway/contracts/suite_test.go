package contracts

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var updateSuite = flag.Bool("update", false, "rewrite testdata/schema-suite-violations.json from the gateway's violations")

const (
	suiteDir            = "../../testdata/JSON-Schema-Test-Suite"
	suiteExceptions     = "../../testdata/schema-suite.json"
	suiteViolationsFile = "../../testdata/schema-suite-violations.json"
)

// suiteList is testdata/schema-suite.json, which the Python suite reads too.
type suiteList struct {
	Run     []string `json:"run"`
	Refused []struct {
		Rule    string      `json:"rule"`
		Message string      `json:"message"`
		Groups  [][2]string `json:"groups"`
	} `json:"refused"`
	Differences []struct {
		Name  string      `json:"name"`
		Why   string      `json:"why"`
		Tests [][3]string `json:"tests"`
	} `json:"differences"`
}

type suiteGroup struct {
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Tests       []struct {
		Description string          `json:"description"`
		Data        json.RawMessage `json:"data"`
		Valid       bool            `json:"valid"`
	} `json:"tests"`
}

// TestSchemaSuite runs the JSON-Schema-Test-Suite through the gateway's
// production loader and validators: every group's schema is loaded as a
// contract schema is (compileRef, with the portability rules), and every
// instance is judged as a request body (ValidateRequestJSON: the raw-bytes
// scan, then the decoded fast path, then v5) and as a decoded value
// (ValidateRequest). Each test passes, or its group is refused by a listed
// rule, or it is a listed difference; and each invalid instance gets the
// violations testdata/schema-suite-violations.json holds, which the worker
// must report too.
func TestSchemaSuite(t *testing.T) {
	list := readSuiteList(t)
	refusedBy := map[[2]string]int{} // group -> index in list.Refused
	for i, r := range list.Refused {
		for _, g := range r.Groups {
			refusedBy[g] = i
		}
	}
	differs := map[[3]string]bool{}
	for _, d := range list.Differences {
		for _, k := range d.Tests {
			differs[k] = true
		}
	}
	wantViolations := map[string][][2]string{}
	if !*updateSuite {
		readJSON(t, suiteViolationsFile, &wantViolations)
	}
	gotViolations := map[string][][2]string{}

	seenGroups, seenTests := map[[2]string]bool{}, map[[3]string]bool{}
	var files []string
	for _, pattern := range list.Run {
		matches, err := filepath.Glob(filepath.Join(suiteDir, pattern))
		if err != nil || len(matches) == 0 {
			t.Fatalf("run %q matches no file (%v)", pattern, err)
		}
		files = append(files, matches...)
	}
	tests, refused := 0, 0
	for _, file := range files {
		name, _ := filepath.Rel(filepath.Join(suiteDir, "tests", "draft2020-12"), file)
		name = filepath.ToSlash(name)
		var groups []suiteGroup
		readJSON(t, file, &groups)
		for gi, g := range groups {
			key := [2]string{name, g.Description}
			seenGroups[key] = true
			path := filepath.Join(t.TempDir(), fmt.Sprintf("%d.json", gi))
			if err := os.WriteFile(path, g.Schema, 0o644); err != nil {
				t.Fatal(err)
			}
			s, _, findings := compileRef(path, "", path)
			rule, listed := refusedBy[key]
			switch {
			case len(findings) > 0 && !listed:
				t.Errorf("%s %q: refused, but not listed in %s: %v", name, g.Description, suiteExceptions, findings)
				continue
			case len(findings) > 0:
				refused++
				if want := list.Refused[rule].Message; !strings.Contains(findings[0].Message, want) {
					t.Errorf("%s %q: refused with %q; want the %s rule: %q", name, g.Description, findings[0], list.Refused[rule].Rule, want)
				}
				continue
			case listed:
				t.Errorf("%s %q: loads, but %s lists it as refused by %s", name, g.Description, suiteExceptions, list.Refused[rule].Rule)
				continue
			}
			c := &Contract{request: newValidator(s)}
			for _, tc := range g.Tests {
				tests++
				tkey := [3]string{name, g.Description, tc.Description}
				seenTests[tkey] = true
				want := tc.Valid != differs[tkey]
				raw, err := c.ValidateRequestJSON(tc.Data, DefaultLimits)
				if err != nil {
					t.Fatalf("%s %q %q: %v", name, g.Description, tc.Description, err)
				}
				decoded := c.ValidateRequest(mustDecode(t, tc.Data))
				if got := len(raw) == 0; got != want {
					t.Errorf("%s %q %q: ValidateRequestJSON says valid=%v; want %v (%v)", name, g.Description, tc.Description, got, want, raw)
				}
				if got := len(decoded) == 0; got != want {
					t.Errorf("%s %q %q: ValidateRequest says valid=%v; want %v (%v)", name, g.Description, tc.Description, got, want, decoded)
				}
				if len(decoded) > 0 {
					gotViolations[suiteKey(tkey)] = pairs(decoded)
				}
			}
		}
	}
	for g := range refusedBy {
		if !seenGroups[g] {
			t.Errorf("%s lists group %q of %s, which the suite does not have", suiteExceptions, g[1], g[0])
		}
	}
	for k := range differs {
		if !seenTests[k] {
			t.Errorf("%s lists test %q of %q in %s, which no loaded group has", suiteExceptions, k[2], k[1], k[0])
		}
	}
	if *updateSuite {
		writeSuiteViolations(t, gotViolations)
		return
	}
	checkSuiteViolations(t, gotViolations, wantViolations)
	t.Logf("%d groups refused, %d tests run", refused, tests)
}

// checkSuiteViolations compares the (instancePath, keyword) pairs the gateway
// reports for each invalid instance with the shared file.
func checkSuiteViolations(t *testing.T, got, want map[string][][2]string) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: no violations; want %v", k, w)
		} else if fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("%s: got violations %v; want %v", k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: got violations %v; want none listed in %s", k, g, suiteViolationsFile)
		}
	}
}

func writeSuiteViolations(t *testing.T, got map[string][][2]string) {
	t.Helper()
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, k := range keys {
		key, _ := json.Marshal(k)
		value, _ := json.Marshal(got[k])
		sep := ","
		if i == len(keys)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  %s: %s%s\n", key, value, sep)
	}
	b.WriteString("}\n")
	if err := os.WriteFile(suiteViolationsFile, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// suiteKey names a test in schema-suite-violations.json: file, group and
// test description, joined by " | ".
func suiteKey(k [3]string) string { return strings.Join(k[:], " | ") }

func pairs(vs []Violation) [][2]string {
	out := make([][2]string, len(vs))
	for i, v := range vs {
		out[i] = [2]string{v.InstancePath, v.Keyword}
	}
	return out
}

// TestSchemaSuiteRulesAreDocumented checks that docs/contracts.md names
// every rule of the shared list, so the two cannot drift apart.
func TestSchemaSuiteRulesAreDocumented(t *testing.T) {
	list := readSuiteList(t)
	doc, err := os.ReadFile("../../docs/contracts.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list.Refused {
		if !bytes.Contains(doc, []byte("\n| "+r.Rule+" |")) {
			t.Errorf("docs/contracts.md has no table row for the rule %q", r.Rule)
		}
	}
	for _, d := range list.Differences {
		if !bytes.Contains(doc, []byte("\n| "+d.Name+" |")) {
			t.Errorf("docs/contracts.md has no table row for the difference %q", d.Name)
		}
	}
}

func readSuiteList(t *testing.T) suiteList {
	t.Helper()
	var list suiteList
	readJSON(t, suiteExceptions, &list)
	return list
}

func readJSON(t *testing.T, file string, into any) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, into); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func mustDecode(t *testing.T, data []byte) any {
	t.Helper()
	v, err := DecodeJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
