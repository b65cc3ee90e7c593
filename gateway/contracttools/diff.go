package contracttools

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/notebridge/notebridge/gateway/compat"
)

// Break is one change that breaks a published contract version.
type Break struct {
	// Contract is the contract version broken, as "name/vN".
	Contract string
	// Part is "request", "response" or "manifest".
	Part string
	// File and Pointer locate the change in the working tree.
	File    string
	Pointer string
	// Rule names the kind of change (docs/contracts.md lists them).
	Rule    string
	Message string
}

// String formats the break as "file:pointer: name/vN part: message [rule]".
func (b Break) String() string {
	where := b.File
	if b.Pointer != "" {
		where += ":" + b.Pointer
	}
	return fmt.Sprintf("%s: %s %s: %s [%s]", where, b.Contract, b.Part, b.Message, b.Rule)
}

// DiffReport is what Diff found.
type DiffReport struct {
	// Ref is the git ref compared against, and Commit what it resolved to.
	Ref, Commit string
	// Compared lists the contract versions present on both sides.
	Compared []string
	// Added lists the versions that are new in the working tree.
	Added []string
	// Retired lists the deprecated versions removed since Ref.
	Retired []string
	// Breaks lists every breaking change.
	Breaks []Break
	// next is the version to suggest per contract name, and where its
	// manifests live.
	next    map[string]int
	nextDir map[string]string
}

// OK reports whether nothing breaks.
func (r *DiffReport) OK() bool { return len(r.Breaks) == 0 }

// published is what Diff reads of a manifest: it compares schemas, not
// examples or descriptions.
type published struct {
	Name           string `json:"name"`
	Version        int    `json:"version"`
	Mode           string `json:"mode"`
	Deprecated     bool   `json:"deprecated"`
	RequestSchema  string `json:"request_schema"`
	ResponseSchema string `json:"response_schema"`
	file           string // relative to the top level, with forward slashes
}

func (p *published) id() string { return fmt.Sprintf("%s/v%d", p.Name, p.Version) }

// Diff compares the contracts in dirs (in the working tree of the git
// repository that holds them) with the same directories at ref, and
// reports every change that breaks a contract version present at ref:
// requests must stay backward compatible, responses forward compatible
// (package compat), the mode must not change, and a version may only be
// removed once it is deprecated.
func Diff(ref string, dirs ...string) (*DiffReport, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	r, err := openRepo(wd)
	if err != nil {
		return nil, err
	}
	commit, err := r.commit(ref)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "notebridge-diff-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	snap := &snapshot{repo: r, commit: commit, into: tmp, done: map[string]bool{}}

	oldSet, newSet := map[string]*published{}, map[string]*published{}
	for _, dir := range dirs {
		rel, err := r.rel(dir)
		if err != nil {
			return nil, err
		}
		files, err := snap.manifests(rel)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if p := readPublished(tmp, f); p != nil {
				oldSet[p.id()] = p
				for _, s := range []string{p.RequestSchema, p.ResponseSchema} {
					if err := snap.schemas(path.Join(path.Dir(f), s)); err != nil {
						return nil, err
					}
				}
			}
		}
		current, err := filepath.Glob(filepath.Join(r.root, filepath.FromSlash(rel), "*.json"))
		if err != nil {
			return nil, err
		}
		for _, f := range current {
			relFile, _ := filepath.Rel(r.root, f)
			p := readPublished(r.root, filepath.ToSlash(relFile))
			if p == nil {
				return nil, fmt.Errorf("%s is not a contract manifest; run notebridge contracts lint", f)
			}
			newSet[p.id()] = p
		}
	}

	rep := &DiffReport{Ref: ref, Commit: commit, next: map[string]int{}, nextDir: map[string]string{}}
	for _, p := range newSet {
		rep.next[p.Name] = max(rep.next[p.Name], p.Version+1)
		rep.nextDir[p.Name] = filepath.Dir(display(r, p.file))
	}
	for _, id := range slices.Sorted(maps.Keys(oldSet)) {
		before, after := oldSet[id], newSet[id]
		if after == nil {
			if before.Deprecated {
				rep.Retired = append(rep.Retired, id)
				continue
			}
			rep.Breaks = append(rep.Breaks, Break{Contract: id, Part: "manifest", File: ref + ":" + before.file,
				Rule: "version-removed", Message: "removed without being deprecated first: mark it \"deprecated\": true, let callers move, then remove it"})
			continue
		}
		rep.Compared = append(rep.Compared, id)
		if before.Mode != after.Mode {
			rep.Breaks = append(rep.Breaks, Break{Contract: id, Part: "manifest", File: display(r, after.file), Pointer: "/mode",
				Rule: "mode-changed", Message: fmt.Sprintf("mode changed from %q to %q", before.Mode, after.Mode)})
		}
		for _, part := range []struct {
			dir        compat.Direction
			oldS, newS string
		}{
			{compat.Request, before.RequestSchema, after.RequestSchema},
			{compat.Response, before.ResponseSchema, after.ResponseSchema},
		} {
			oldFile := filepath.Join(tmp, filepath.FromSlash(path.Join(path.Dir(before.file), part.oldS)))
			newFile := filepath.Join(r.root, filepath.FromSlash(path.Join(path.Dir(after.file), part.newS)))
			changes, err := compat.Compare(compat.Schema{File: oldFile}, compat.Schema{File: newFile}, part.dir)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", id, part.dir, unTemp(err, tmp, ref))
			}
			for _, ch := range changes {
				rel, _ := filepath.Rel(r.root, ch.File)
				rep.Breaks = append(rep.Breaks, Break{Contract: id, Part: part.dir.String(), File: display(r, filepath.ToSlash(rel)),
					Pointer: ch.Pointer, Rule: ch.Rule, Message: ch.Message})
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(newSet)) {
		if oldSet[id] == nil {
			rep.Added = append(rep.Added, id)
		}
	}
	return rep, nil
}

// readPublished reads a manifest at root/file, or returns nil when it is
// not one.
func readPublished(root, file string) *published {
	raw, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(file)))
	if err != nil {
		return nil
	}
	var p published
	if json.Unmarshal(raw, &p) != nil || p.Name == "" || p.Version < 1 {
		return nil
	}
	p.file = file
	return &p
}

// display turns a path relative to the top level into one relative to the
// working directory.
func display(r *repo, rel string) string {
	wd, err := os.Getwd()
	if err != nil {
		return rel
	}
	if resolved, err := filepath.EvalSymlinks(wd); err == nil {
		wd = resolved
	}
	out, err := filepath.Rel(wd, filepath.Join(r.root, filepath.FromSlash(rel)))
	if err != nil {
		return rel
	}
	return out
}

// unTemp writes paths of the snapshot as "ref:path" in an error's
// message, and keeps the error it wraps.
func unTemp(err error, tmp, ref string) error {
	return &snapshotError{msg: strings.ReplaceAll(err.Error(), tmp+string(filepath.Separator), ref+":"), err: err}
}

type snapshotError struct {
	msg string
	err error
}

func (e *snapshotError) Error() string { return e.msg }
func (e *snapshotError) Unwrap() error { return e.err }

// Write prints one line per breaking change and a summary that suggests
// the version to publish instead.
func (r *DiffReport) Write(w io.Writer) error {
	for _, b := range r.Breaks {
		if _, err := fmt.Fprintln(w, b); err != nil {
			return err
		}
	}
	if r.OK() {
		_, err := fmt.Fprintln(w, r.Summary())
		return err
	}
	broken := map[string]bool{}
	for _, b := range r.Breaks {
		broken[b.Contract] = true
	}
	for _, id := range slices.Sorted(maps.Keys(broken)) {
		name, _, _ := strings.Cut(id, "/")
		next, dir := r.next[name], r.nextDir[name]
		if next == 0 { // every version of the name is gone
			next, _ = strconv.Atoi(strings.TrimPrefix(id[len(name)+1:], "v"))
			next++
		}
		manifest := filepath.Join(dir, fmt.Sprintf("%s.v%d.json", name, next))
		if _, err := fmt.Fprintf(w, "%s: breaking change(s) since %s: keep %s as it was and publish the change as %s/v%d (a new manifest, %s), then deprecate %s once callers have moved\n",
			id, r.Ref, id, name, next, manifest, id); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, r.Summary())
	return err
}

// Summary is the report in one line.
func (r *DiffReport) Summary() string {
	extra := ""
	if len(r.Added) > 0 {
		extra += "; new: " + strings.Join(r.Added, ", ")
	}
	if len(r.Retired) > 0 {
		extra += "; removed after deprecation: " + strings.Join(r.Retired, ", ")
	}
	if r.OK() {
		return fmt.Sprintf("contracts diff: no breaking change against %s (%d contract version(s) compared%s)", r.Ref, len(r.Compared), extra)
	}
	return fmt.Sprintf("contracts diff: %d breaking change(s) against %s (%d contract version(s) compared%s)", len(r.Breaks), r.Ref, len(r.Compared), extra)
}
