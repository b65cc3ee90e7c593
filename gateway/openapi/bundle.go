package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/notebridge/notebridge/gateway/contracts"
)

// Bundle is the schema files of a set of contracts as component schemas:
// one component per file, named after its path, with every $ref between
// files rewritten to point at a component, so the document stands alone.
type Bundle struct {
	// Schemas maps component names to schemas.
	Schemas map[string]any
	names   map[string]string // absolute file path -> component name
}

// invalidName matches what a component name may not hold.
var invalidName = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// NewBundle bundles every schema file the contracts reach.
func NewBundle(cts []*contracts.Contract) (*Bundle, error) {
	raw := map[string]json.RawMessage{}
	for _, ct := range cts {
		dir, err := filepath.Abs(filepath.Dir(ct.ManifestFile))
		if err != nil {
			return nil, err
		}
		for rel, doc := range ct.Schemas {
			raw[filepath.Join(dir, filepath.FromSlash(rel))] = doc
		}
	}
	b := &Bundle{Schemas: map[string]any{}, names: names(raw)}
	for file, doc := range raw {
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.UseNumber() // keep every digit of enum values and bounds
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("openapi: %s: %w", file, err)
		}
		// The loader refuses $id (contracts/portable.go): a component's
		// place in the document is its identity.
		if m, ok := v.(map[string]any); ok {
			if m["$schema"] == Dialect {
				delete(m, "$schema") // the document's jsonSchemaDialect says it
			}
		}
		if err := b.rewrite(file, v); err != nil {
			return nil, err
		}
		b.Schemas[b.names[file]] = v
	}
	return b, nil
}

// names gives every file a component name: its path below the deepest
// directory all the files share, with "/" as "." and without ".json".
func names(files map[string]json.RawMessage) map[string]string {
	var paths []string
	for f := range files {
		paths = append(paths, f)
	}
	sort.Strings(paths)
	common := ""
	if len(paths) > 0 {
		common = filepath.Dir(paths[0])
		for _, p := range paths[1:] {
			for !strings.HasPrefix(p, common+string(filepath.Separator)) && common != filepath.Dir(common) {
				common = filepath.Dir(common)
			}
		}
	}
	out := map[string]string{}
	used := map[string]bool{}
	for _, p := range paths {
		rel, err := filepath.Rel(common, p)
		if err != nil {
			rel = filepath.Base(p)
		}
		name := invalidName.ReplaceAllString(strings.ReplaceAll(strings.TrimSuffix(filepath.ToSlash(rel), ".json"), "/", "."), "_")
		for base, i := name, 2; used[name]; i++ {
			name = fmt.Sprintf("%s_%d", base, i)
		}
		used[name] = true
		out[p] = name
	}
	return out
}

// Component returns the component name of a schema file a contract
// names (relative to its manifest, as in Contract.RequestSchemaRef).
func (b *Bundle) Component(ct *contracts.Contract, rel string) (string, error) {
	dir, err := filepath.Abs(filepath.Dir(ct.ManifestFile))
	if err != nil {
		return "", err
	}
	name, ok := b.names[filepath.Join(dir, filepath.FromSlash(rel))]
	if !ok {
		return "", fmt.Errorf("openapi: %s is not bundled", rel)
	}
	return name, nil
}

// rewrite points every $ref in v, a schema of file, at a component.
func (b *Bundle) rewrite(file string, v any) error {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			target, frag, _ := strings.Cut(ref, "#")
			targetFile := file
			if target != "" {
				if strings.Contains(target, ":") {
					return fmt.Errorf("openapi: %s: $ref %q is not a relative file path", file, ref)
				}
				targetFile = filepath.Join(filepath.Dir(file), filepath.FromSlash(target))
			}
			name, ok := b.names[targetFile]
			if !ok {
				return fmt.Errorf("openapi: %s: $ref %q: %s is not bundled", file, ref, targetFile)
			}
			if frag == "" || strings.HasPrefix(frag, "/") {
				v["$ref"] = SchemaRef(name) + frag
			} else {
				v["$ref"] = "#" + frag // an $anchor: named once for the whole document
			}
		}
		for _, child := range v {
			if err := b.rewrite(file, child); err != nil {
				return err
			}
		}
	case []any:
		for _, child := range v {
			if err := b.rewrite(file, child); err != nil {
				return err
			}
		}
	}
	return nil
}
