package compat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrUnresolvable is wrapped by the errors of a $ref that leads nowhere or
// a schema file that cannot be read.
var ErrUnresolvable = errors.New("cannot resolve schema")

// node is one schema value inside a file: an object or a boolean.
type node struct {
	file string // absolute path
	ptr  string // JSON pointer of the value inside file
	v    any
}

func (n node) key() string { return n.file + "#" + n.ptr }

// obj returns the schema's keywords, or nil for a boolean schema.
func (n node) obj() map[string]any {
	m, _ := n.v.(map[string]any)
	return m
}

// child returns the value of a keyword, with its location.
func (n node) child(tokens ...string) (node, bool) {
	v := n.v
	ptr := n.ptr
	for _, tok := range tokens {
		switch cur := v.(type) {
		case map[string]any:
			next, ok := cur[tok]
			if !ok {
				return node{}, false
			}
			v = next
		case []any:
			var i int
			if _, err := fmt.Sscanf(tok, "%d", &i); err != nil || i < 0 || i >= len(cur) {
				return node{}, false
			}
			v = cur[i]
		default:
			return node{}, false
		}
		ptr += "/" + escape(tok)
	}
	return node{file: n.file, ptr: ptr, v: v}, true
}

// docs reads and caches schema files.
type docs map[string]any

func (d docs) load(file string) (node, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return node{}, err
	}
	if v, ok := d[abs]; ok {
		return node{file: abs, v: v}, nil
	}
	raw, err := os.ReadFile(abs)
	if err != nil {
		return node{}, fmt.Errorf("%w: %v", ErrUnresolvable, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return node{}, fmt.Errorf("%w: %s: %v", ErrUnresolvable, abs, err)
	}
	d[abs] = v
	return node{file: abs, v: v}, nil
}

// at loads file and walks to pointer.
func (d docs) at(file, pointer string) (node, error) {
	root, err := d.load(file)
	if err != nil {
		return node{}, err
	}
	if pointer == "" {
		return root, nil
	}
	n, ok := root.child(splitPointer(pointer)...)
	if !ok {
		return node{}, fmt.Errorf("%w: %s has nothing at #%s", ErrUnresolvable, file, pointer)
	}
	return n, nil
}

// resolve follows the $ref of n: a path relative to n's file, a JSON
// pointer fragment, or an $anchor.
func (d docs) resolve(n node, ref string) (node, error) {
	u, err := url.Parse(ref)
	if err != nil || (u.Scheme != "" && u.Scheme != "file") || u.Host != "" {
		return node{}, fmt.Errorf("%w: %s#%s: $ref %q is not a file path", ErrUnresolvable, n.file, n.ptr, ref)
	}
	file := n.file
	if u.Path != "" {
		file = filepath.Join(filepath.Dir(n.file), filepath.FromSlash(u.Path))
	}
	if u.Fragment == "" || strings.HasPrefix(u.Fragment, "/") {
		target, err := d.at(file, u.Fragment)
		if err != nil {
			return node{}, fmt.Errorf("$ref %q at %s#%s: %w", ref, n.file, n.ptr, err)
		}
		return target, nil
	}
	root, err := d.load(file)
	if err != nil {
		return node{}, err
	}
	if found, ok := findAnchor(root, u.Fragment); ok {
		return found, nil
	}
	return node{}, fmt.Errorf("%w: $ref %q at %s#%s: no $anchor %q", ErrUnresolvable, ref, n.file, n.ptr, u.Fragment)
}

func findAnchor(n node, anchor string) (node, bool) {
	switch v := n.v.(type) {
	case map[string]any:
		if v["$anchor"] == anchor {
			return n, true
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			c, _ := n.child(k)
			if found, ok := findAnchor(c, anchor); ok {
				return found, true
			}
		}
	case []any:
		for i := range v {
			c, _ := n.child(fmt.Sprint(i))
			if found, ok := findAnchor(c, anchor); ok {
				return found, true
			}
		}
	}
	return node{}, false
}

func escape(tok string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(tok) }

func splitPointer(p string) []string {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range parts {
		parts[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(s)
	}
	return parts
}
