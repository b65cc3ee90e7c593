package compat

import (
	"maps"
	"math/big"
	"slices"
	"strconv"

	"github.com/notebridge/notebridge/gateway/jsoneq"
)

// view is a conjunction of schema nodes: a value is valid when every node
// accepts it. A node's $ref target and allOf branches join its view, so
// the rules read keywords wherever they are written.
type view struct {
	nodes []node
	never bool            // a false schema is among them: nothing is valid
	split map[string]bool // anyOf and oneOf lists already narrowed to one branch
}

// flatten builds the view of n, following $ref and allOf.
func (d docs) flatten(n node) (view, error) {
	var v view
	seen := map[string]bool{}
	var add func(node) error
	add = func(n node) error {
		if seen[n.key()] {
			return nil
		}
		seen[n.key()] = true
		switch s := n.v.(type) {
		case bool:
			if !s {
				v.never = true
			}
			return nil
		case map[string]any:
			v.nodes = append(v.nodes, n)
			if ref, ok := s["$ref"].(string); ok {
				target, err := d.resolve(n, ref)
				if err != nil {
					return err
				}
				if err := add(target); err != nil {
					return err
				}
			}
			if all, ok := s["allOf"].([]any); ok {
				for i := range all {
					branch, _ := n.child("allOf", itoa(i))
					if err := add(branch); err != nil {
						return err
					}
				}
			}
			return nil
		default:
			return nil // not a schema; the loader rejects such files
		}
	}
	err := add(n)
	return v, err
}

// key identifies the view for cycle detection.
func (v view) key() string {
	s := ""
	for _, n := range v.nodes {
		s += n.key() + "&"
	}
	if v.never {
		s += "false"
	}
	for _, k := range slices.Sorted(maps.Keys(v.split)) {
		s += "|" + k
	}
	return s
}

// primary is the node the view was built from, where a keyword it lacks
// would be written.
func (v view) primary() node {
	if len(v.nodes) == 0 {
		return node{}
	}
	return v.nodes[0]
}

// constraining reports whether any node has a keyword that can reject a
// value (annotations such as title or description do not).
func (v view) constraining() bool {
	if v.never {
		return true
	}
	for _, n := range v.nodes {
		for k := range n.obj() {
			if !annotation[k] {
				return true
			}
		}
	}
	return false
}

// annotation lists keywords that never reject a value ("format" included:
// notebridge does not assert it), plus the applicators flatten handles.
var annotation = map[string]bool{
	"$schema": true, "$id": true, "$anchor": true, "$defs": true, "definitions": true,
	"$comment": true, "title": true, "description": true, "default": true, "examples": true,
	"deprecated": true, "readOnly": true, "writeOnly": true, "format": true,
	"contentMediaType": true, "contentEncoding": true, "$ref": true, "allOf": true,
}

// obj reports whether any node has the keyword.
func (v view) obj(name string) (node, bool) {
	kws := v.keyword(name)
	if len(kws) == 0 {
		return node{}, false
	}
	return kws[0], true
}

// keyword returns every node's value of a keyword, with its location.
func (v view) keyword(name string) []node {
	var out []node
	for _, n := range v.nodes {
		if c, ok := n.child(name); ok {
			out = append(out, c)
		}
	}
	return out
}

// types returns the JSON types the view allows, or nil for any type.
// "integer" is listed when "number" is.
func (v view) types() map[string]bool {
	var out map[string]bool
	for _, kw := range v.keyword("type") {
		set := map[string]bool{}
		switch t := kw.v.(type) {
		case string:
			set[t] = true
		case []any:
			for _, e := range t {
				if s, ok := e.(string); ok {
					set[s] = true
				}
			}
		}
		if set["number"] {
			set["integer"] = true
		}
		if out == nil {
			out = set
			continue
		}
		for t := range out {
			if !set[t] {
				delete(out, t)
			}
		}
	}
	return out
}

// allows reports whether a value of JSON type t may pass the type keyword.
func (v view) allows(t string) bool {
	ts := v.types()
	return ts == nil || ts[t]
}

// enum returns the values of enum and const, intersected over the nodes,
// and whether any node has one.
func (v view) enum() ([]any, bool) {
	var out []any
	found := false
	for _, n := range v.nodes {
		var vals []any
		has := false
		if e, ok := n.obj()["enum"].([]any); ok {
			vals, has = e, true
		}
		if c, ok := n.obj()["const"]; ok {
			vals, has = []any{c}, true
		}
		if !has {
			continue
		}
		if !found {
			out, found = vals, true
			continue
		}
		var keep []any
		for _, x := range out {
			if containsValue(vals, x) {
				keep = append(keep, x)
			}
		}
		out = keep
	}
	return out, found
}

// bound is a numeric keyword's effective value over the view: the tightest
// one, and where it is written.
type bound struct {
	val  *big.Rat
	at   node
	excl bool // exclusiveMinimum or exclusiveMaximum
}

func (b *bound) set() bool { return b != nil && b.val != nil }

// tightest returns the tightest of the named keywords; upper says whether
// smaller is tighter.
func (v view) tightest(upper bool, names ...string) *bound {
	var best *bound
	for _, name := range names {
		for _, kw := range v.keyword(name) {
			r, ok := number(kw.v)
			if !ok {
				continue
			}
			b := &bound{val: r, at: kw, excl: name == "exclusiveMaximum" || name == "exclusiveMinimum"}
			if best == nil {
				best = b
				continue
			}
			c := r.Cmp(best.val)
			if (upper && c < 0) || (!upper && c > 0) || (c == 0 && b.excl) {
				best = b
			}
		}
	}
	return best
}

// strings returns the string values of a keyword over the nodes (pattern).
func (v view) strings(name string) map[string]node {
	out := map[string]node{}
	for _, kw := range v.keyword(name) {
		if s, ok := kw.v.(string); ok {
			out[s] = kw
		}
	}
	return out
}

// required returns the union of the required lists.
func (v view) required() map[string]node {
	out := map[string]node{}
	for _, kw := range v.keyword("required") {
		list, _ := kw.v.([]any)
		for i, e := range list {
			if s, ok := e.(string); ok {
				at, _ := kw.child(itoa(i))
				out[s] = at
			}
		}
	}
	return out
}

// declared returns every property name some node lists under properties.
func (v view) declared() []string {
	set := map[string]bool{}
	for _, kw := range v.keyword("properties") {
		for name := range kw.obj() {
			set[name] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// isTrue reports whether a flag keyword (uniqueItems) is true on any node.
func (v view) isTrue(name string) (node, bool) {
	for _, kw := range v.keyword(name) {
		if b, ok := kw.v.(bool); ok && b {
			return kw, true
		}
	}
	return node{}, false
}

// number reads a JSON number as an exact rational.
func number(v any) (*big.Rat, bool) { return jsoneq.Decimal(v) }

func containsValue(list []any, x any) bool {
	for _, e := range list {
		if jsoneq.Equal(e, x) {
			return true
		}
	}
	return false
}

func itoa(i int) string { return strconv.Itoa(i) }
