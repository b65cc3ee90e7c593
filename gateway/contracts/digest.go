package contracts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// schemaRole is a schema file a manifest names, and the role it names it
// for: "request", "response" or "chunk", in that order.
type schemaRole struct {
	role, file string
}

type schemaRoles []schemaRole

// digest computes the contract digest of docs/protocol.md from the schema
// files a manifest names and every file they reach through $ref, each in
// its canonical form (canonicalSchema). It also returns those documents as
// written, keyed by their path relative to base.
func digest(base string, roles schemaRoles) (string, map[string]json.RawMessage, error) {
	docs := map[string][]byte{} // absolute path -> normalized bytes
	var queue []string
	for _, r := range roles {
		queue = append(queue, r.file)
	}
	for len(queue) > 0 {
		file, err := filepath.Abs(queue[0])
		queue = queue[1:]
		if err != nil {
			return "", nil, err
		}
		if _, seen := docs[file]; seen {
			continue
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			return "", nil, err
		}
		docs[file] = bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			return "", nil, fmt.Errorf("%s: %w", file, err)
		}
		for _, ref := range FileRefs(doc) {
			queue = append(queue, filepath.Join(filepath.Dir(file), filepath.FromSlash(ref)))
		}
	}

	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	fileHash := make(map[string]string, len(docs))
	for file, b := range docs {
		canonical, err := canonicalSchema(b)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", file, err)
		}
		fileHash[file] = sum(canonical)
	}
	var text strings.Builder
	for _, r := range roles {
		abs, _ := filepath.Abs(r.file)
		fmt.Fprintf(&text, "%s %s\n", r.role, fileHash[abs])
	}
	hashes := make(map[string]bool, len(docs))
	schemas := make(map[string]json.RawMessage, len(docs))
	absBase, err := filepath.Abs(base)
	if err != nil {
		return "", nil, err
	}
	for file, b := range docs {
		hashes[fileHash[file]] = true
		rel, err := filepath.Rel(absBase, file)
		if err != nil {
			return "", nil, err
		}
		schemas[filepath.ToSlash(rel)] = json.RawMessage(b)
	}
	sorted := make([]string, 0, len(hashes))
	for h := range hashes {
		sorted = append(sorted, h)
	}
	sort.Strings(sorted)
	for _, h := range sorted {
		text.WriteString(h + "\n")
	}
	return "sha256:" + sum([]byte(text.String())), schemas, nil
}

// FileRefs returns the file part of every $ref in doc that points at
// another file (not "#..." and not an absolute URI): the files a schema
// document depends on, relative to it.
func FileRefs(doc any) []string {
	var refs []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				file, _, _ := strings.Cut(ref, "#")
				if file != "" && !strings.Contains(file, ":") {
					refs = append(refs, file)
				}
			}
			for _, child := range v {
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(doc)
	return refs
}
