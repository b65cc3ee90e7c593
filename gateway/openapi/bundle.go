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
// one component per file, named after its path, and one per entry of a
// file's top-level $defs, named after the file and the entry, with every
// $ref rewritten to point at a component, so the document stands alone.
//
// Code generators (openapi-python-client, openapi-typescript) name a type
// after each component and follow $refs only to whole components: a $ref
// into another component's $defs leaves them without a type.
type Bundle struct {
	// Schemas maps component names to schemas.
	Schemas map[string]any
	names   map[string]string            // absolute file path -> component name
	defs    map[string]map[string]string // absolute file path -> $defs entry -> component name
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
	b := &Bundle{Schemas: map[string]any{}, names: names(raw), defs: map[string]map[string]string{}}
	used := map[string]bool{}
	for _, name := range b.names {
		used[name] = true
	}
	decoded := map[string]any{}
	var files []string
	for file, doc := range raw {
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.UseNumber() // keep every digit of enum values and bounds
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("openapi: %s: %w", file, err)
		}
		decoded[file] = v
		files = append(files, file)
	}
	sort.Strings(files) // the same names for $defs entries on every start
	for _, file := range files {
		m, ok := decoded[file].(map[string]any)
		if !ok {
			continue
		}
		// The loader refuses $id (contracts/portable.go): a component's
		// place in the document is its identity.
		if m["$schema"] == Dialect {
			delete(m, "$schema") // the document's jsonSchemaDialect says it
		}
		defs, _ := m["$defs"].(map[string]any)
		keys := make([]string, 0, len(defs))
		for key := range defs {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		b.defs[file] = map[string]string{}
		for _, key := range keys {
			b.defs[file][key] = unique(b.names[file]+"."+invalidName.ReplaceAllString(key, "_"), used)
		}
	}
	for _, file := range files {
		v := decoded[file]
		if err := b.rewrite(file, v); err != nil {
			return nil, err
		}
		if m, ok := v.(map[string]any); ok {
			if defs, ok := m["$defs"].(map[string]any); ok {
				for key, def := range defs {
					b.Schemas[b.defs[file][key]] = def
				}
				delete(m, "$defs")
			}
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
		out[p] = unique(invalidName.ReplaceAllString(strings.ReplaceAll(strings.TrimSuffix(filepath.ToSlash(rel), ".json"), "/", "."), "_"), used)
	}
	return out
}

// unique returns name, or name_2, name_3... if used has it, and marks the
// one it returns used.
func unique(name string, used map[string]bool) string {
	for base, i := name, 2; used[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	used[name] = true
	return name
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
				v["$ref"] = b.target(targetFile, name, frag)
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

// target is the $ref to fragment frag (a JSON pointer) of file, whose
// component is name: into the component of a $defs entry when it points
// at or into one.
func (b *Bundle) target(file, name, frag string) string {
	if rest, ok := strings.CutPrefix(frag, "/$defs/"); ok {
		key, below, _ := strings.Cut(rest, "/")
		key = strings.ReplaceAll(strings.ReplaceAll(key, "~1", "/"), "~0", "~")
		if def, ok := b.defs[file][key]; ok {
			if below != "" {
				below = "/" + below
			}
			return SchemaRef(def) + below
		}
	}
	return SchemaRef(name) + frag
}
