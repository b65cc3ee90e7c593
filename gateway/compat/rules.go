package compat

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// sub reports every reason why a may accept a value that b rejects. where
// is b's or a's location in the new schema, for keywords it lacks.
func (c *checker) sub(a, b view, where node) {
	if c.err != nil || a.never || !b.constraining() {
		return
	}
	pair := a.key() + "|" + b.key()
	if c.active[pair] { // a $ref cycle: assume what is being proved
		return
	}
	c.active[pair] = true
	defer delete(c.active, pair)

	if b.never {
		c.report(where, c.pick("schema-false", "schema-opened"), "%s", c.pick(
			"nothing is accepted here any more (the schema became false)",
			"values are allowed here now, where the old schema allowed none"))
		return
	}
	if c.combinations(a, b, where) {
		return
	}
	c.negations(a, b, where)
	if c.enums(a, b, where) {
		return
	}
	c.types(a, b, where)
	if a.allows("string") && b.allows("string") {
		c.strings(a, b, where)
	}
	if (a.allows("number") || a.allows("integer")) && (b.allows("number") || b.allows("integer")) {
		c.numbers(a, b, where)
	}
	if a.allows("object") && b.allows("object") {
		c.objects(a, b, where)
	}
	if a.allows("array") && b.allows("array") {
		c.arrays(a, b, where)
	}
	c.unsupported(a, b, where)
}

// group is one anyOf or oneOf list of a view.
type group struct {
	kind     string // "anyOf" or "oneOf"
	at       node   // the keyword's value, a list
	branches []node
}

// firstGroup returns the first anyOf or oneOf of v not yet split.
func firstGroup(v view) (group, bool) {
	for _, n := range v.nodes {
		for _, kind := range []string{"anyOf", "oneOf"} {
			kw, ok := n.child(kind)
			if !ok || v.split[kw.key()] {
				continue
			}
			list, _ := kw.v.([]any)
			g := group{kind: kind, at: kw}
			for i := range list {
				br, _ := kw.child(itoa(i))
				g.branches = append(g.branches, br)
			}
			return g, true
		}
	}
	return group{}, false
}

// with returns v narrowed to one branch of g.
func (c *checker) with(v view, g group, branch node) view {
	out := view{nodes: append([]node(nil), v.nodes...), never: v.never, split: map[string]bool{g.at.key(): true}}
	for k := range v.split {
		out.split[k] = true
	}
	bv := c.flatten(branch)
	out.nodes = append(out.nodes, bv.nodes...)
	out.never = out.never || bv.never
	return out
}

// combinations handles anyOf and oneOf: every branch of a must fit some
// branch of b. It reports whether it took over the comparison.
func (c *checker) combinations(a, b view, where node) bool {
	ga, okA := firstGroup(a)
	gb, okB := firstGroup(b)
	switch {
	case okA && okB:
		if ga.kind == "anyOf" && gb.kind == "oneOf" && len(ga.branches) > 1 && len(gb.branches) > 1 {
			at := gb.at
			if !c.oldIsSub {
				at = ga.at
			}
			c.report(at, c.pick("anyOf-to-oneOf", "oneOf-to-anyOf"), "%s", c.pick(
				"anyOf became oneOf: a value that matches two branches is rejected now",
				"oneOf became anyOf: a value may now match two branches, which the old oneOf rejects"))
		}
		for i, xa := range ga.branches {
			av := c.with(a, ga, xa)
			fits := false
			for _, xb := range gb.branches {
				bv := c.with(b, gb, xb)
				if len(c.trial(func(t *checker) { t.sub(av, bv, where) })) == 0 {
					fits = true
					break
				}
			}
			if fits {
				continue
			}
			if c.oldIsSub {
				c.report(gb.at, gb.kind+"-branch-removed", "%s branch %d of the old schema fits no branch of the new %s: what it accepted is rejected now", ga.kind, i, gb.kind)
			} else {
				c.report(xa, ga.kind+"-branch-added", "%s branch %d is new and fits no branch of the old %s: consumers reject what it accepts", ga.kind, i, gb.kind)
			}
		}
		return true
	case okA:
		for _, xa := range ga.branches {
			c.sub(c.with(a, ga, xa), b, where)
		}
		return true
	case okB:
		var best []Change
		for i, xb := range gb.branches {
			bv := c.with(b, gb, xb)
			found := c.trial(func(t *checker) { t.sub(a, bv, where) })
			if len(found) == 0 {
				return true
			}
			if i == 0 || len(found) < len(best) {
				best = found
			}
		}
		c.out = append(c.out, best...)
		return true
	}
	return false
}

// negations: every "not" of b must exclude no more than a "not" of a does.
func (c *checker) negations(a, b view, where node) {
	for _, nb := range b.keyword("not") {
		vb := c.flatten(nb)
		covered := false
		for _, na := range a.keyword("not") {
			va := c.flatten(na)
			if len(c.trial(func(t *checker) { t.sub(vb, va, where) })) == 0 {
				covered = true
				break
			}
		}
		if !covered {
			at := nb
			if !c.oldIsSub {
				at = c.at(a, b, where, "not")
			}
			c.report(at, c.pick("not-narrowed", "not-widened"), "%s", c.pick(
				"\"not\" now excludes values the old schema accepted",
				"\"not\" excludes fewer values than before: replies may carry values the old schema excluded"))
		}
	}
}

// enums compares enum and const. When a lists its values, each must pass
// b; it reports whether it took over the comparison.
func (c *checker) enums(a, b view, where node) bool {
	ea, hasA := a.enum()
	_, hasB := b.enum()
	switch {
	case hasA:
		for _, x := range ea {
			if c.accepts(b, x) {
				continue
			}
			at := c.at(a, b, where, "enum")
			if _, ok := c.newSide(a, b).obj("enum"); !ok {
				if kws := c.newSide(a, b).keyword("const"); len(kws) > 0 {
					at = kws[0]
				}
			}
			c.report(at, c.pick("enum-value-removed", "enum-value-added"), "%s", c.pick(
				fmt.Sprintf("value %s was accepted and is not any more", compact(x)),
				fmt.Sprintf("value %s may now be sent, and the old schema rejects it", compact(x))))
		}
		return true
	case hasB:
		at := c.at(a, b, where, "enum")
		if kws := b.keyword("const"); len(kws) > 0 && c.oldIsSub {
			at = kws[0]
		}
		c.report(at, c.pick("enum-added", "enum-removed"), "%s", c.pick(
			"the value is restricted to a list (enum or const) now; other values were accepted before",
			"the value is no longer restricted to the old list (enum or const)"))
		return true
	}
	return false
}

// allTypes are the JSON types, "integer" included.
var allTypes = []string{"array", "boolean", "integer", "null", "number", "object", "string"}

// types: every type a allows must be allowed by b.
func (c *checker) types(a, b view, where node) {
	tb := b.types()
	if tb == nil {
		return
	}
	ta := a.types()
	var missing []string
	for _, t := range allTypes {
		if (ta == nil || ta[t]) && !tb[t] {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return
	}
	oldT, newT := ta, tb
	if !c.oldIsSub {
		oldT, newT = tb, ta
	}
	rule := "type-changed"
	switch {
	case subset(newT, oldT):
		rule = "type-narrowed"
	case subset(oldT, newT):
		rule = "type-widened"
	}
	c.report(c.at(a, b, where, "type"), rule, "type changed from %s to %s", typeList(oldT), typeList(newT))
}

// subset reports whether every type of x is in y (nil is every type).
func subset(x, y map[string]bool) bool {
	if y == nil {
		return true
	}
	if x == nil {
		return false
	}
	for t := range x {
		if !y[t] {
			return false
		}
	}
	return true
}

func typeList(ts map[string]bool) string {
	if ts == nil {
		return "any type"
	}
	var names []string
	for t := range ts {
		if t == "integer" && ts["number"] {
			continue
		}
		names = append(names, t)
	}
	sort.Strings(names)
	return "[" + strings.Join(names, ", ") + "]"
}

// unsupportedKeywords are compared only for equality: a change to them
// cannot be proved compatible keyword by keyword.
var unsupportedKeywords = []string{
	"if", "then", "else", "dependentSchemas", "unevaluatedProperties", "unevaluatedItems",
	"minContains", "maxContains", "$dynamicRef", "$recursiveRef",
}

func (c *checker) unsupported(a, b view, where node) {
	for _, kw := range unsupportedKeywords {
		nb := b.keyword(kw)
		if len(nb) == 0 {
			continue
		}
		na := a.keyword(kw)
		if len(na) == len(nb) && reflect.DeepEqual(values(na), values(nb)) {
			continue
		}
		c.report(c.at(a, b, where, kw), kw+"-changed", "%q changed, and notebridge cannot prove such a change compatible", kw)
	}
}

func values(ns []node) []any {
	out := make([]any, len(ns))
	for i, n := range ns {
		out[i] = n.v
	}
	return out
}

func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
