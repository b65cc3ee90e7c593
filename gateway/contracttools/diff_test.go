package contracttools_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/notebridge/notebridge/gateway/compat"
	"github.com/notebridge/notebridge/gateway/contracttools"
	"github.com/notebridge/notebridge/gateway/internal/contracttest"
)

// gitRepo makes a repository in a temporary directory, and makes it the
// working directory of the test.
func gitRepo(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	t.Chdir(root)
	run(t, root, "git", "init", "-q", "-b", "main")
	return root
}

func commit(t *testing.T, root, message string, files contracttest.Tree, remove ...string) {
	t.Helper()
	files.Write(t, root)
	for _, f := range remove {
		run(t, root, "git", "rm", "-q", f)
	}
	run(t, root, "git", "add", "-A")
	run(t, root, "git", "commit", "-q", "-m", message)
}

func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.invalid",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.invalid",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// published is the first commit: three contracts sharing a $ref'd file.
func published() contracttest.Tree {
	return contracttest.Tree{
		"contracts/label.v1.json": `{"name": "label", "version": 1, "mode": "sync", "timeout_seconds": 1,
			"request_schema": "../schemas/label.req.json", "response_schema": "../schemas/label.resp.json",
			"examples": [{"name": "x", "request": {"text": "a"}}]}`,
		"contracts/old.v1.json": `{"name": "old", "version": 1, "mode": "sync", "timeout_seconds": 1, "deprecated": true,
			"request_schema": "../schemas/label.req.json", "response_schema": "../schemas/label.resp.json",
			"examples": [{"name": "x", "request": {"text": "a"}}]}`,
		"contracts/keep.v1.json": `{"name": "keep", "version": 1, "mode": "sync", "timeout_seconds": 1,
			"request_schema": "../schemas/label.req.json", "response_schema": "../schemas/label.resp.json",
			"examples": [{"name": "x", "request": {"text": "a"}}]}`,
		"schemas/common.json": `{"$defs": {"text": {"type": "string", "maxLength": 100}, "label": {"enum": ["positive", "negative"]}}}`,
		"schemas/label.req.json": `{"type": "object", "additionalProperties": false, "required": ["text"],
			"properties": {"text": {"$ref": "common.json#/$defs/text"}, "lang": {"type": "string"}}}`,
		"schemas/label.resp.json": `{"type": "object", "additionalProperties": false, "required": ["label"],
			"properties": {"label": {"$ref": "common.json#/$defs/label"}}}`,
	}
}

func TestDiffAgainstPreviousCommit(t *testing.T) {
	root := gitRepo(t)
	commit(t, root, "publish", published())
	// The second commit breaks label/v1 twice through the shared file and
	// once in its own request schema, removes the deprecated old/v1 (fine),
	// removes keep/v1 without deprecating it (breaking) and adds label/v2
	// (fine).
	commit(t, root, "change", contracttest.Tree{
		"schemas/common.json": `{"$defs": {"text": {"type": "string", "maxLength": 50}, "label": {"enum": ["positive", "negative", "mixed"]}}}`,
		"schemas/label.req.json": `{"type": "object", "additionalProperties": false, "required": ["text", "lang"],
			"properties": {"text": {"$ref": "common.json#/$defs/text"}, "lang": {"type": "string"}}}`,
		"contracts/label.v2.json": strings.Replace(published()["contracts/label.v1.json"], `"version": 1`, `"version": 2`, 1),
	}, "contracts/old.v1.json", "contracts/keep.v1.json")

	rep, err := contracttools.Diff("HEAD~1", "contracts")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range rep.Breaks {
		got = append(got, b.String())
	}
	sort.Strings(got)
	want := []string{
		"HEAD~1:contracts/keep.v1.json: keep/v1 manifest: removed without being deprecated first: mark it \"deprecated\": true, let callers move, then remove it [version-removed]",
		"schemas/common.json:/$defs/label/enum: label/v1 response: value \"mixed\" may now be sent, and the old schema rejects it [enum-value-added]",
		"schemas/common.json:/$defs/text/maxLength: label/v1 request: maxLength decreased from 100 to 50 [maxLength-decreased]",
		"schemas/label.req.json:/required/1: label/v1 request: property \"lang\" is required now [required-added]",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got breaks\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !reflect.DeepEqual(rep.Added, []string{"label/v2"}) || !reflect.DeepEqual(rep.Retired, []string{"old/v1"}) || !reflect.DeepEqual(rep.Compared, []string{"label/v1"}) {
		t.Errorf("got added %v, retired %v, compared %v; want [label/v2], [old/v1], [label/v1]", rep.Added, rep.Retired, rep.Compared)
	}
	var out bytes.Buffer
	if err := rep.Write(&out); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"label/v1: breaking change(s) since HEAD~1: keep label/v1 as it was and publish the change as label/v3 (a new manifest, " + filepath.Join("contracts", "label.v3.json") + ")",
		"contracts diff: 4 breaking change(s) against HEAD~1 (1 contract version(s) compared; new: label/v2; removed after deprecation: old/v1)",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("got report\n%s\nwant a line containing %q", out.String(), line)
		}
	}

	t.Run("working tree against HEAD", func(t *testing.T) {
		rep, err := contracttools.Diff("HEAD", "contracts")
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || len(rep.Compared) != 2 {
			t.Fatalf("got %s; want no break over 2 versions", rep.Summary())
		}
		contracttest.Tree{"schemas/label.req.json": `{"type": "object", "additionalProperties": false, "required": ["text", "lang"],
			"properties": {"text": {"$ref": "common.json#/$defs/text"}, "lang": {"enum": ["en", "de"]}}}`}.Write(t, root)
		rep, err = contracttools.Diff("HEAD", "contracts")
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Breaks) != 2 || rep.Breaks[0].Rule != "enum-added" {
			t.Fatalf("got %v; want enum-added in label/v1 and label/v2", rep.Breaks)
		}
	})
	t.Run("from a subdirectory", func(t *testing.T) {
		t.Chdir(filepath.Join(root, "schemas"))
		rep, err := contracttools.Diff("HEAD~1", "../contracts")
		if err != nil {
			t.Fatal(err)
		}
		var files []string
		for _, b := range rep.Breaks {
			files = append(files, b.File)
		}
		sort.Strings(files)
		want := []string{"HEAD~1:contracts/keep.v1.json", "common.json", "common.json", "label.req.json", "label.req.json"}
		if !reflect.DeepEqual(files, want) {
			t.Errorf("got files %v; want %v, relative to the working directory", files, want)
		}
	})
}

func TestDiffErrors(t *testing.T) {
	root := gitRepo(t)
	commit(t, root, "publish", published())
	tests := []struct {
		name, ref, dir string
		want           string
	}{
		{"unknown ref", "no-such-ref", "contracts", `"no-such-ref" is not a commit`},
		{"no parent commit", "HEAD~1", "contracts", `"HEAD~1" is not a commit`},
		{"directory outside the repository", "HEAD", os.TempDir(), "outside the repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := contracttools.Diff(tt.ref, tt.dir)
			if !errors.Is(err, contracttools.ErrGit) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got err %v; want ErrGit saying %q", err, tt.want)
			}
		})
	}
}

func TestDiffNewDirectoryIsNotBreaking(t *testing.T) {
	root := gitRepo(t)
	commit(t, root, "empty", contracttest.Tree{"README": "x"})
	commit(t, root, "publish", published())
	rep, err := contracttools.Diff("HEAD~1", "contracts")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || len(rep.Added) != 3 {
		t.Fatalf("got %s; want 3 new versions and no break", rep.Summary())
	}
}

func TestDiffUnresolvableRefAtTheRef(t *testing.T) {
	root := gitRepo(t)
	broken := published()
	broken["schemas/label.req.json"] = `{"$ref": "gone.json"}`
	commit(t, root, "broken", broken)
	_, err := contracttools.Diff("HEAD", "contracts")
	if !errors.Is(err, compat.ErrUnresolvable) || !strings.Contains(err.Error(), "HEAD:schemas/gone.json") {
		t.Fatalf("got err %v; want ErrUnresolvable naming HEAD:schemas/gone.json", err)
	}
}
