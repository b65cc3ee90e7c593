package compat

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/notebridge/notebridge/gateway/contracts"
)

// Direction says which side of a contract a schema describes, and so which
// changes to it break a program.
type Direction int

const (
	// Request schemas must stay BACKWARD compatible: every request valid
	// under the old schema must be valid under the new one.
	Request Direction = iota + 1
	// Response schemas must stay FORWARD compatible: every reply valid under
	// the new schema must be valid under the old one.
	Response
)

// String returns "request" or "response".
func (d Direction) String() string {
	if d == Request {
		return "request"
	}
	return "response"
}

// Schema names a schema: a file and a JSON pointer inside it ("" for the
// whole file).
type Schema struct {
	File    string
	Pointer string
}

// Change is one change between two schemas that breaks compatibility.
type Change struct {
	// File and Pointer locate the change in the new schema (where a removed
	// keyword was, when it is gone).
	File    string
	Pointer string
	// Rule names the kind of change, such as "required-added"; the rules
	// are listed in docs/contracts.md.
	Rule string
	// Message says what changed, from the old schema to the new one.
	Message string
}

// String formats the change as "file:pointer: message [rule]", with file
// relative to the working directory when it is below it.
func (c Change) String() string {
	return fmt.Sprintf("%s:%s: %s [%s]", relative(c.File), c.Pointer, c.Message, c.Rule)
}

// Compare returns every change from old to new that breaks compatibility
// in the given direction, or an error when a schema cannot be read or a
// $ref cannot be resolved.
func Compare(old, new Schema, dir Direction) ([]Change, error) {
	c := &checker{docs: docs{}, oldIsSub: dir == Request, active: map[string]bool{}, compiled: map[string]*jsonschema.Schema{}}
	oldNode, err := c.docs.at(old.File, old.Pointer)
	if err != nil {
		return nil, err
	}
	newNode, err := c.docs.at(new.File, new.Pointer)
	if err != nil {
		return nil, err
	}
	oldView, err := c.docs.flatten(oldNode)
	if err != nil {
		return nil, err
	}
	newView, err := c.docs.flatten(newNode)
	if err != nil {
		return nil, err
	}
	if c.oldIsSub {
		c.sub(oldView, newView, newNode)
	} else {
		c.sub(newView, oldView, newNode)
	}
	if c.err != nil {
		return nil, c.err
	}
	return dedupe(c.out), nil
}

// checker asks whether schema a can accept a value that schema b rejects,
// and reports each reason. For a request a is the old schema and b the new
// one; for a response it is the other way round.
type checker struct {
	docs     docs
	oldIsSub bool
	out      []Change
	err      error
	active   map[string]bool // pairs being compared now, against $ref cycles
	compiled map[string]*jsonschema.Schema
}

// trial runs f on a checker that shares c's caches but not its findings,
// and returns what it found.
func (c *checker) trial(f func(t *checker)) []Change {
	t := &checker{docs: c.docs, oldIsSub: c.oldIsSub, active: c.active, compiled: c.compiled}
	f(t)
	if t.err != nil && c.err == nil {
		c.err = t.err
	}
	return t.out
}

// newSide returns, of a and b, the view of the new schema.
func (c *checker) newSide(a, b view) view {
	if c.oldIsSub {
		return b
	}
	return a
}

// pick returns the first name when a is the old schema, the second when a
// is the new one: a value a accepts and b rejects is a removal in one
// direction and an addition in the other.
func (c *checker) pick(aIsOld, aIsNew string) string {
	if c.oldIsSub {
		return aIsOld
	}
	return aIsNew
}

// at locates a keyword in the new schema: where the new schema writes it,
// or where it would be written.
func (c *checker) at(a, b view, where node, keyword string) node {
	if kws := c.newSide(a, b).keyword(keyword); len(kws) > 0 {
		return kws[0]
	}
	return node{file: where.file, ptr: where.ptr + "/" + escape(keyword)}
}

func (c *checker) report(at node, rule, format string, args ...any) {
	c.out = append(c.out, Change{File: at.file, Pointer: at.ptr, Rule: rule, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) flatten(n node) view {
	v, err := c.docs.flatten(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return v
}

// accepts validates value against every node of v with the validator the
// gateway uses.
func (c *checker) accepts(v view, value any) bool {
	if v.never {
		return false
	}
	for _, n := range v.nodes {
		s, ok := c.compiled[n.key()]
		if !ok {
			var err error
			s, err = contracts.NewCompiler().Compile(contracts.FileURL(n.file) + "#" + fragment(n.ptr))
			if err != nil {
				if c.err == nil {
					c.err = fmt.Errorf("compat: %s#%s: %w", n.file, n.ptr, err)
				}
				return true
			}
			c.compiled[n.key()] = s
		}
		if s.Validate(value) != nil {
			return false
		}
	}
	return true
}

func fragment(ptr string) string {
	var b strings.Builder
	for _, r := range ptr {
		switch {
		case r == '%' || r == ' ' || r == '#' || r == '?' || r < 0x20:
			fmt.Fprintf(&b, "%%%02X", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func dedupe(in []Change) []Change {
	seen := map[Change]bool{}
	var out []Change
	for _, ch := range in {
		if !seen[ch] {
			seen[ch] = true
			out = append(out, ch)
		}
	}
	return out
}

func relative(path string) string {
	wd, err := os.Getwd()
	if err != nil || !filepath.IsAbs(path) {
		return path
	}
	if rel, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}
