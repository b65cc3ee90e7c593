package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/notebridge/notebridge/gateway/wire"
)

// ErrInvalidContract is wrapped by every error Load returns for a contract,
// schema or example that cannot be enforced.
var ErrInvalidContract = errors.New("invalid contract")

// namePattern keeps a contract name usable as one NATS subject token and
// one URL path segment.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

// maxTimeout bounds a sync contract's timeout: past it, a job fits better.
const maxTimeout = time.Hour

// manifest is the file format of a contract; docs/contracts.md describes it.
type manifest struct {
	Name           string    `json:"name"`
	Version        int       `json:"version"`
	Description    string    `json:"description"`
	Mode           Mode      `json:"mode"`
	TimeoutSeconds float64   `json:"timeout_seconds"`
	Deprecated     bool      `json:"deprecated"`
	RequestSchema  string    `json:"request_schema"`
	ResponseSchema string    `json:"response_schema"`
	Examples       []Example `json:"examples"`
}

// Load reads every *.json manifest in each of dirs, compiles the schemas
// they point at and checks every example. It returns the first problem,
// naming the file (and, inside a schema, the JSON pointer), wrapped around
// ErrInvalidContract.
func Load(dirs ...string) (*Registry, error) {
	reg := newRegistry()
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%w: no *.json contract manifests in %s", ErrInvalidContract, dir)
		}
		sort.Strings(files)
		for _, file := range files {
			c, err := loadContract(file)
			if err != nil {
				return nil, err
			}
			if err := reg.add(c); err != nil {
				return nil, err
			}
		}
	}
	if len(reg.all) == 0 {
		return nil, fmt.Errorf("%w: no contracts directory given", ErrInvalidContract)
	}
	return reg, nil
}

func invalid(file, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidContract, file, fmt.Sprintf(format, args...))
}

func loadContract(file string) (*Contract, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, invalid(file, "%v", err)
	}
	var m manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, invalid(file, "%v", err)
	}
	if err := m.check(); err != nil {
		return nil, invalid(file, "%v", err)
	}
	dir := filepath.Dir(file)
	c := &Contract{
		Name:              m.Name,
		Version:           m.Version,
		Description:       m.Description,
		Mode:              m.Mode,
		Timeout:           time.Duration(m.TimeoutSeconds * float64(time.Second)),
		Deprecated:        m.Deprecated,
		Examples:          m.Examples,
		Subject:           wire.Subject(m.Name, m.Version),
		ManifestFile:      file,
		RequestSchemaRef:  m.RequestSchema,
		ResponseSchemaRef: m.ResponseSchema,
	}
	reqFile := filepath.Join(dir, filepath.FromSlash(m.RequestSchema))
	respFile := filepath.Join(dir, filepath.FromSlash(m.ResponseSchema))
	if c.request, err = compile(reqFile); err != nil {
		return nil, err
	}
	if c.response, err = compile(respFile); err != nil {
		return nil, err
	}
	if c.Digest, c.Schemas, err = digest(dir, reqFile, respFile); err != nil {
		return nil, invalid(file, "%v", err)
	}
	for i, ex := range c.Examples {
		if err := checkExample(c, ex); err != nil {
			return nil, invalid(file, "/examples/%d (%q): %v", i, ex.Name, err)
		}
	}
	return c, nil
}

func (m *manifest) check() error {
	switch {
	case !namePattern.MatchString(m.Name):
		return fmt.Errorf("/name: %q must match %s", m.Name, namePattern)
	case m.Version < 1:
		return fmt.Errorf("/version: %d must be an integer >= 1", m.Version)
	case m.Mode != ModeSync:
		return fmt.Errorf("/mode: %q is not supported; use %q", m.Mode, ModeSync)
	case m.TimeoutSeconds <= 0 || m.TimeoutSeconds > maxTimeout.Seconds():
		return fmt.Errorf("/timeout_seconds: %v must be > 0 and <= %v", m.TimeoutSeconds, maxTimeout.Seconds())
	case m.RequestSchema == "":
		return errors.New("/request_schema: missing")
	case m.ResponseSchema == "":
		return errors.New("/response_schema: missing")
	case len(m.Examples) == 0:
		return errors.New("/examples: a contract needs at least one example")
	}
	return nil
}

func checkExample(c *Contract, ex Example) error {
	if len(ex.Request) == 0 {
		return errors.New("missing request")
	}
	if err := checkAgainst(ex.Request, c.ValidateRequest); err != nil {
		return fmt.Errorf("request: %w", err)
	}
	if len(ex.Response) == 0 {
		return nil
	}
	if err := checkAgainst(ex.Response, c.ValidateResponse); err != nil {
		return fmt.Errorf("response: %w", err)
	}
	return nil
}

func checkAgainst(doc json.RawMessage, validate func(any) []Violation) error {
	v, err := DecodeJSON(doc)
	if err != nil {
		return err
	}
	if vs := validate(v); len(vs) > 0 {
		msgs := make([]string, len(vs))
		for i, v := range vs {
			msgs[i] = fmt.Sprintf("%s: %s", pointerOrRoot(v.InstancePath), v.Message)
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

func pointerOrRoot(p string) string {
	if p == "" {
		return "(root)"
	}
	return p
}

// compile compiles one schema file; the schemas it references are loaded
// from disk relative to it. Draft 2020-12 applies unless $schema says
// otherwise, and format is an annotation (docs/protocol.md).
func compile(file string) (s *jsonschema.Schema, err error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, invalid(file, "%v", err)
	}
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	// v5 asserts format in schemas without $schema; notebridge never does,
	// on either side (docs/protocol.md), so every format accepts everything.
	for name := range jsonschema.Formats {
		c.Formats[name] = annotationOnly
	}
	// The compiler checks patterns against the meta-schema before it compiles
	// them, but a panic must never be how a bad schema surfaces.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, invalid(file, "%v", r)
		}
	}()
	s, err = c.Compile(fileURL(abs))
	if err != nil {
		return nil, schemaError(file, err)
	}
	return s, nil
}

// schemaError turns a compiler error into "file#pointer: message" lines.
func schemaError(file string, err error) error {
	var se *jsonschema.SchemaError
	if !errors.As(err, &se) {
		return invalid(file, "%v", err)
	}
	where := file
	if p, err := urlToPath(se.SchemaURL); err == nil {
		where = p
	}
	var ve *jsonschema.ValidationError
	if errors.As(se.Err, &ve) {
		vs := violations(ve)
		msgs := make([]string, len(vs))
		for i, v := range vs {
			msgs[i] = fmt.Sprintf("%s#%s: %s", where, v.InstancePath, v.Message)
		}
		return fmt.Errorf("%w: %s", ErrInvalidContract, strings.Join(msgs, "; "))
	}
	return invalid(where, "%v", se.Err)
}

func annotationOnly(any) bool { return true }

func fileURL(abs string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
}

func urlToPath(u string) (string, error) {
	parsed, err := url.Parse(u)
	if err != nil || parsed.Scheme != "file" {
		return "", fmt.Errorf("not a file URL: %s", u)
	}
	return filepath.FromSlash(parsed.Path), nil
}
