package contracttools

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/notebridge/notebridge/gateway/contracts"
)

// LintReport is what Lint found.
type LintReport struct {
	// Dirs are the contracts directories linted.
	Dirs []string
	// Contracts counts the contract versions without a problem.
	Contracts int
	// Findings lists every problem, grouped by file.
	Findings []contracts.Finding
}

// OK reports whether Lint found no problem.
func (r *LintReport) OK() bool { return len(r.Findings) == 0 }

// Lint checks every manifest in dirs with the rules the gateway enforces
// when it loads them (contracts.Check), and with two conventions on top:
// a manifest's file is named <name>.v<version>.json, and each example has
// a name of its own, so that reports and JUnit files can refer to it.
func Lint(dirs ...string) *LintReport {
	reg, findings := contracts.Check(dirs...)
	for _, c := range reg.All() {
		findings = append(findings, conventions(c)...)
	}
	seen := map[contracts.Finding]bool{}
	var unique []contracts.Finding
	for _, f := range findings {
		if !seen[f] {
			seen[f] = true
			unique = append(unique, f)
		}
	}
	sort.SliceStable(unique, func(i, j int) bool { return unique[i].File < unique[j].File })
	return &LintReport{Dirs: dirs, Contracts: len(reg.All()) - countFiles(unique, reg), Findings: unique}
}

// countFiles counts the registered contracts whose manifest has a finding.
func countFiles(fs []contracts.Finding, reg *contracts.Registry) int {
	bad := map[string]bool{}
	for _, f := range fs {
		bad[f.File] = true
	}
	n := 0
	for _, c := range reg.All() {
		if bad[c.ManifestFile] {
			n++
		}
	}
	return n
}

// conventions are the lint-only rules.
func conventions(c *contracts.Contract) []contracts.Finding {
	var out []contracts.Finding
	want := c.Name + ".v" + strconv.Itoa(c.Version) + ".json"
	if base := filepath.Base(c.ManifestFile); base != want {
		out = append(out, contracts.Finding{File: c.ManifestFile, Pointer: "",
			Message: fmt.Sprintf("the file of %s must be named %s, not %s", c.ID(), want, base)})
	}
	names := map[string]int{}
	for i, ex := range c.Examples {
		at := fmt.Sprintf("/examples/%d/name", i)
		switch first, dup := names[ex.Name]; {
		case strings.TrimSpace(ex.Name) == "":
			out = append(out, contracts.Finding{File: c.ManifestFile, Pointer: at, Message: "every example needs a name"})
		case dup:
			out = append(out, contracts.Finding{File: c.ManifestFile, Pointer: at,
				Message: fmt.Sprintf("example name %q is already used by /examples/%d", ex.Name, first)})
		default:
			names[ex.Name] = i
		}
	}
	return out
}

// Write prints one "file:pointer: message" line per finding, then a
// one-line summary.
func (r *LintReport) Write(w io.Writer) error {
	for _, f := range r.Findings {
		if _, err := fmt.Fprintln(w, f); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, r.Summary())
	return err
}

// Summary is the report in one line.
func (r *LintReport) Summary() string {
	if r.OK() {
		return fmt.Sprintf("contracts lint: %d contract version(s) in %s: no problems", r.Contracts, strings.Join(r.Dirs, ", "))
	}
	files := map[string]bool{}
	for _, f := range r.Findings {
		files[f.File] = true
	}
	return fmt.Sprintf("contracts lint: %d problem(s) in %d file(s)", len(r.Findings), len(files))
}
