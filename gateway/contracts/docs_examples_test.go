package contracts_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/notebridge/notebridge/gateway/contracts"
)

// curlCall matches the curl lines of the docs that call a contract, with
// their body: POST 127.0.0.1:8080/api/<name>[/vN] ... -d '<json>'.
var curlCall = regexp.MustCompile(`127\.0\.0\.1:8080/api/([a-z][a-z0-9_-]*)(?:/v([0-9]+))?(?:/jobs)?\s.*-d '([^']*)'`)

// TestDocsExamplesKeepTheContracts checks every curl call in README.md and
// docs/*.md against the example contracts: a body the answer under it shows
// as refused must break the contract, every other body must keep it. A
// reader who copies an example gets what the page says.
func TestDocsExamplesKeepTheContracts(t *testing.T) {
	reg, err := contracts.Load("../../contracts")
	if err != nil {
		t.Fatal(err)
	}
	pages, _ := filepath.Glob("../../docs/*.md")
	pages = append(pages, "../../README.md")
	calls := 0
	for _, page := range pages {
		text, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.ReplaceAll(string(text), "\\\n", " "), "\n")
		for i, line := range lines {
			m := curlCall.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			calls++
			ct, err := reg.Latest(m[1])
			if err != nil {
				t.Errorf("%s: %s: %v", page, m[1], err)
				continue
			}
			vs, err := ct.ValidateRequestJSON([]byte(m[3]), contracts.DefaultLimits)
			if err != nil {
				t.Errorf("%s: body of the %s call is not JSON: %v", page, m[1], err)
				continue
			}
			refused := i+1 < len(lines) && strings.Contains(lines[i+1], "problem:invalid-request")
			if refused != (len(vs) > 0) {
				t.Errorf("%s: %s %s: got %d violation(s) %v; want refused = %v", page, m[1], m[3], len(vs), vs, refused)
			}
		}
	}
	if calls < 5 {
		t.Errorf("found %d curl calls in the docs; want the examples of README and docs/", calls)
	}
}
