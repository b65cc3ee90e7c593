package contracttools

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/notebridge/notebridge/gateway/contracts"
)

// ErrGit is wrapped by every error of a git command Diff runs.
var ErrGit = errors.New("git")

// repo is the git work tree Diff runs in.
type repo struct {
	root string // absolute path of the top level
}

// openRepo finds the repository that holds dir.
func openRepo(dir string) (*repo, error) {
	out, err := git(dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, err
	}
	root, err := filepath.EvalSymlinks(strings.TrimSpace(string(out)))
	if err != nil {
		return nil, err
	}
	return &repo{root: root}, nil
}

// commit resolves ref to a commit id.
func (r *repo) commit(ref string) (string, error) {
	out, err := git(r.root, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("%w: %q is not a commit in %s", ErrGit, ref, r.root)
	}
	return strings.TrimSpace(string(out)), nil
}

// rel returns dir relative to the top level, with forward slashes.
func (r *repo) rel(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		abs = resolved
	}
	rel, err := filepath.Rel(r.root, abs)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("%w: %s is outside the repository %s", ErrGit, dir, r.root)
	}
	return filepath.ToSlash(rel), nil
}

// snapshot writes the contract manifests of dirs at commit, and every
// schema file they reach, into a directory, at the same relative paths.
type snapshot struct {
	repo   *repo
	commit string
	into   string
	done   map[string]bool
}

// manifests copies the *.json files directly in dir (a path relative to
// the top level) and returns their relative paths; none when dir did not
// exist at the commit.
func (s *snapshot) manifests(dir string) ([]string, error) {
	out, err := git(s.repo.root, "ls-tree", "--name-only", s.commit, dir+"/")
	if err != nil {
		return nil, err
	}
	var files []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasSuffix(line, ".json") && path.Dir(line) == path.Clean(dir) {
			if err := s.copy(line); err != nil {
				return nil, err
			}
			files = append(files, line)
		}
	}
	return files, nil
}

// schemas copies a schema file and, following $ref, every file it reaches.
// A file missing at the commit is left out: the comparison reports it.
func (s *snapshot) schemas(file string) error {
	if s.done[file] {
		return nil
	}
	s.done[file] = true
	if err := s.copy(file); err != nil {
		return nil //nolint:nilerr // missing at the ref: Compare says so
	}
	raw, err := os.ReadFile(filepath.Join(s.into, filepath.FromSlash(file)))
	if err != nil {
		return err
	}
	var doc any
	if json.Unmarshal(raw, &doc) != nil {
		return nil
	}
	for _, ref := range contracts.FileRefs(doc) {
		if err := s.schemas(path.Join(path.Dir(file), ref)); err != nil {
			return err
		}
	}
	return nil
}

func (s *snapshot) copy(file string) error {
	out, err := git(s.repo.root, "show", s.commit+":"+file)
	if err != nil {
		return err
	}
	dst := filepath.Join(s.into, filepath.FromSlash(file))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, out, 0o644)
}

func git(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", append([]string{"-c", "core.quotepath=off"}, args...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("%w %s: %s", ErrGit, strings.Join(args, " "), msg)
	}
	return out, nil
}
