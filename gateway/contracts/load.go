package contracts

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/notebridge/notebridge/gateway/wire"
)

// ErrInvalidContract is wrapped by every error Load returns for a contract,
// schema or example that cannot be enforced.
var ErrInvalidContract = errors.New("invalid contract")

// Load reads every *.json manifest in each of dirs, compiles the schemas
// they point at and checks every example. It returns the first problem,
// naming the file (and, inside a file, the JSON pointer), wrapped around
// ErrInvalidContract; Check returns all of them.
func Load(dirs ...string) (*Registry, error) {
	reg, findings := Check(dirs...)
	if len(findings) > 0 {
		return nil, findings[0].err()
	}
	return reg, nil
}

// Check reads the manifests in dirs as Load does, but goes on past a
// problem: it returns a registry of the contracts that have none, and every
// Finding, manifest by manifest in file order.
func Check(dirs ...string) (*Registry, []Finding) {
	reg := newRegistry()
	if len(dirs) == 0 {
		return reg, []Finding{finding(".", "", "no contracts directory given")}
	}
	var out []Finding
	claimed := map[string]string{} // subject -> manifest that claimed it first
	var composed []*Contract       // added once the contracts they call are
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			out = append(out, finding(dir, "", "%v", err))
			continue
		}
		if len(files) == 0 {
			out = append(out, finding(dir, "", "no *.json contract manifests in %s", dir))
			continue
		}
		sort.Strings(files)
		for _, file := range files {
			c, m, fs := checkContract(file)
			if m != nil && namePattern.MatchString(m.Name) && m.Version >= 1 {
				subject := wire.Subject(m.Name, m.Version)
				if first, dup := claimed[subject]; dup {
					fs = append(fs, finding(file, "/version", "%s/v%d (subject %s) is also defined by %s",
						m.Name, m.Version, subject, first))
				} else {
					claimed[subject] = file
				}
			}
			if len(fs) > 0 {
				out = append(out, fs...)
				continue
			}
			if c.Composed() {
				composed = append(composed, c)
				continue
			}
			if err := reg.add(c); err != nil {
				out = append(out, finding(file, "", "%v", err))
			}
		}
	}
	for _, c := range composed {
		fs := resolveCompose(reg, c, composed)
		if len(fs) == 0 {
			fs = tenantCallProblems(c)
		}
		if len(fs) > 0 {
			out = append(out, fs...)
			continue
		}
		if err := reg.add(c); err != nil {
			out = append(out, finding(c.ManifestFile, "", "%v", err))
		}
	}
	return reg, out
}

// checkContract loads one manifest. It returns the contract when there is
// no finding, and the decoded manifest whenever the file is a JSON object.
func checkContract(file string) (*Contract, *manifest, []Finding) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, []Finding{finding(file, "", "%v", err)}
	}
	m, out := decodeManifest(file, raw)
	if len(out) == 1 && out[0].Pointer == "" {
		return nil, nil, out // not a JSON object: nothing else to check
	}
	reported := map[string]bool{}
	for _, f := range out {
		reported[f.Pointer] = true
	}
	for _, f := range m.problems(file) {
		if !reported[f.Pointer] {
			out = append(out, f)
		}
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
		ChunkSchemaRef:    m.ChunkSchema,
		Merge:             m.Merge,
		Repair:            m.Repair,
		Cache:             m.Cache,
		Compose:           m.Compose,
	}
	if m.Tenant != nil {
		c.Tenant, _ = ParsePointer(*m.Tenant) // checked by tenantProblems
	}
	switch m.Mode {
	case ModeStream:
		c.IdleTimeout = defaultIdleTimeout
		if m.IdleTimeoutSeconds > 0 {
			c.IdleTimeout = time.Duration(m.IdleTimeoutSeconds * float64(time.Second))
		}
	case ModeJob:
		c.Subject = wire.JobSubject(m.Name, m.Version)
		c.MaxAttempts, c.AckWait = defaultMaxAttempts, defaultAckWait
		if m.MaxAttempts != nil {
			c.MaxAttempts = *m.MaxAttempts
		}
		if m.AckWaitSeconds != nil {
			c.AckWait = time.Duration(*m.AckWaitSeconds * float64(time.Second))
		}
	}
	roles := schemaRoles{}
	fileDialects := map[string]string{} // every schema file reached -> its dialect
	for _, s := range []struct {
		role, ref, pointer string
		into               **validator
	}{
		{"request", m.RequestSchema, "/request_schema", &c.request},
		{"response", m.ResponseSchema, "/response_schema", &c.response},
		{"chunk", m.ChunkSchema, "/chunk_schema", &c.chunk},
	} {
		if s.ref == "" {
			continue
		}
		path := filepath.Join(dir, filepath.FromSlash(s.ref))
		compiled, ds, fs := compileRef(file, s.pointer, path)
		if *s.into = newValidator(compiled); *s.into != nil {
			roles = append(roles, schemaRole{s.role, path})
		}
		for f, d := range ds {
			fileDialects[f] = d
		}
		out = append(out, fs...)
	}
	if len(out) == 0 && len(roles) > 0 {
		if f, mixed := mixedDialects(roles[0].file, fileDialects); mixed {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		if c.Digest, c.Schemas, err = digest(dir, roles); err != nil {
			out = append(out, finding(file, "", "%v", err))
		}
	}
	for i, ex := range c.Examples {
		out = append(out, checkExample(c, file, i, ex)...)
	}
	if len(out) > 0 {
		return nil, &m, out
	}
	return c, &m, nil
}

// compileRef compiles the schema a manifest member points at, unless it,
// or a file it reaches, uses a construct the two sides would not load or
// judge alike (portable.go). It also returns the dialect of every schema
// file it reached.
func compileRef(manifestFile, pointer, schemaFile string) (*jsonschema.Schema, map[string]string, []Finding) {
	if _, err := os.Stat(schemaFile); err != nil {
		return nil, nil, []Finding{finding(manifestFile, pointer, "cannot read %s: %v", schemaFile, errors.Unwrap(err))}
	}
	p := checkPortable(schemaFile)
	s, fs := compile(schemaFile)
	if len(p.findings) == 0 {
		return s, p.dialects, fs
	}
	// The compiler's own findings are kept where they add to the refusals:
	// not at the same place, and not the whole-file errors a refused $ref
	// or $id leads to ("no Loader found for https://...").
	out := p.findings
	reported := map[[2]string]bool{}
	for _, f := range p.findings {
		reported[[2]string{f.File, f.Pointer}] = true
	}
	for _, f := range fs {
		if f.Pointer != "" && !reported[[2]string{f.File, f.Pointer}] {
			out = append(out, f)
		}
	}
	return nil, p.dialects, out
}

// mixedDialects finds the schema files whose dialect is not root's: the
// worker validates a contract's schemas with one validator class, so they
// share one dialect.
func mixedDialects(root string, fileDialects map[string]string) (Finding, bool) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return Finding{}, false
	}
	var others []string
	for f, d := range fileDialects {
		if d != fileDialects[abs] {
			others = append(others, displayPath(f))
		}
	}
	if len(others) == 0 {
		return Finding{}, false
	}
	sort.Strings(others)
	verb := "uses"
	if len(others) > 1 {
		verb = "use"
	}
	return finding(displayPath(abs), "", "%s %s another $schema than this file: a contract's schema files share one dialect",
		strings.Join(others, ", "), verb), true
}

// checkExample validates one example against the schemas that compiled,
// one finding per violation, located inside the manifest.
func checkExample(c *Contract, file string, i int, ex Example) []Finding {
	at := fmt.Sprintf("/examples/%d", i)
	if len(ex.Request) == 0 {
		return []Finding{finding(file, at+"/request", "example %q has no request", ex.Name)}
	}
	var out []Finding
	check := func(member string, doc []byte, validate func(any) []Violation) {
		v, err := DecodeJSON(doc)
		if err != nil {
			out = append(out, finding(file, at+"/"+member, "example %q: %v", ex.Name, err))
			return
		}
		for _, viol := range validate(v) {
			out = append(out, finding(file, at+"/"+member+viol.InstancePath, "example %q: %s: %s", ex.Name, member, viol.Message))
		}
	}
	if c.request != nil {
		check("request", ex.Request, c.ValidateRequest)
	}
	if c.response != nil && len(ex.Response) > 0 {
		check("response", ex.Response, c.ValidateResponse)
	}
	return out
}

// NewCompiler returns a JSON Schema compiler configured as notebridge
// validates everywhere: draft 2020-12 unless a document's $schema says
// otherwise, and format as an annotation only (docs/protocol.md).
func NewCompiler() *jsonschema.Compiler {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	// v5 asserts format in schemas without $schema; notebridge never does,
	// on either side (docs/protocol.md), so every format accepts everything.
	for name := range jsonschema.Formats {
		c.Formats[name] = annotationOnly
	}
	return c
}

// compile compiles one schema file; the schemas it references are loaded
// from disk relative to it.
func compile(file string) (s *jsonschema.Schema, fs []Finding) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, []Finding{finding(file, "", "%v", err)}
	}
	// The compiler checks patterns against the meta-schema before it compiles
	// them, but a panic must never be how a bad schema surfaces.
	defer func() {
		if r := recover(); r != nil {
			s, fs = nil, []Finding{finding(file, "", "%v", r)}
		}
	}()
	s, err = NewCompiler().Compile(FileURL(abs))
	if err != nil {
		return nil, schemaFindings(file, err)
	}
	return s, nil
}

// schemaFindings turns a compiler error into findings located by file and
// JSON pointer: one per meta-schema violation.
func schemaFindings(file string, err error) []Finding {
	var se *jsonschema.SchemaError
	if !errors.As(err, &se) {
		return []Finding{finding(file, "", "%v", err)}
	}
	where := file
	if p, err := urlToPath(se.SchemaURL); err == nil {
		where = displayPath(p)
	}
	var ve *jsonschema.ValidationError
	if errors.As(se.Err, &ve) {
		var out []Finding
		seen := map[string]bool{}
		for _, v := range violations(ve) {
			ptr, err := url.PathUnescape(v.InstancePath)
			if err != nil {
				ptr = v.InstancePath
			}
			// The meta-schema's anyOf yields one leaf per alternative
			// ("one of these names" and "or an array"): the first says it.
			if seen[ptr] {
				continue
			}
			seen[ptr] = true
			out = append(out, finding(where, ptr, "%s", v.Message))
		}
		return out
	}
	return []Finding{finding(where, "", "%v", se.Err)}
}

func annotationOnly(any) bool { return true }

// FileURL turns an absolute file path into the file:// URL the schema
// compiler knows the file by.
func FileURL(abs string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
}

func urlToPath(u string) (string, error) {
	parsed, err := url.Parse(u)
	if err != nil || parsed.Scheme != "file" {
		return "", fmt.Errorf("not a file URL: %s", u)
	}
	return filepath.FromSlash(parsed.Path), nil
}
