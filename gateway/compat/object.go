package compat

import (
	"maps"
	"regexp"
	"slices"
)

// objects compares the keywords of objects: required, properties,
// additionalProperties, patternProperties, propertyNames, the property
// count bounds and dependentRequired.
func (c *checker) objects(a, b view, where node) {
	ra, rb := a.required(), b.required()
	for _, name := range slices.Sorted(maps.Keys(rb)) {
		if _, ok := ra[name]; ok {
			continue
		}
		at := rb[name]
		if !c.oldIsSub {
			at = c.propertyAt(a, where, name)
		}
		c.report(at, c.pick("required-added", "required-removed"), "%s", c.pick(
			"property "+quote(name)+" is required now",
			"property "+quote(name)+" is not required any more: replies may lack it"))
	}
	c.bounds(a, b, where, true, "maxProperties")
	c.bounds(a, b, where, false, "minProperties")

	declaredA := set(a.declared())
	declaredB := set(b.declared())
	names := set(a.declared())
	for n := range declaredB {
		names[n] = true
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		sa, sb := c.property(a, name), c.property(b, name)
		at := c.propertyAt(c.newSide(a, b), where, name)
		switch {
		case sa.never:
			continue
		case sb.never:
			c.report(at, c.pick("property-removed", "property-added"), "%s", c.pick(
				"property "+quote(name)+" was accepted and is not any more (additionalProperties is false)",
				"property "+quote(name)+" is new, and the old schema does not allow it (additionalProperties is false)"))
		case !declaredA[name] && !sa.constraining() && sb.constraining():
			c.report(at, c.pick("property-added-to-open-model", "property-removed-from-open-model"), "%s", c.pick(
				"property "+quote(name)+" is new, with a schema, in an open content model: requests could already send it with any value",
				"property "+quote(name)+" was removed from an open content model: replies may now carry it with any value"))
		case !declaredB[name] && declaredA[name] && !sb.constraining():
			// b leaves the name open: anything a allows fits.
		default:
			c.sub(sa, sb, at)
		}
	}

	aa, ab := c.additional(a), c.additional(b)
	at := c.at(a, b, where, "additionalProperties")
	switch {
	case aa.never:
	case ab.never:
		c.report(at, c.pick("additionalProperties-closed", "additionalProperties-opened"), "%s", c.pick(
			"additionalProperties became false: properties that were accepted are rejected now",
			"additionalProperties is no longer false: replies may carry properties the old schema rejects"))
	case !aa.constraining() && ab.constraining():
		c.report(at, c.pick("additionalProperties-narrowed", "additionalProperties-widened"), "%s", c.pick(
			"additionalProperties got a schema: undeclared properties were accepted with any value",
			"additionalProperties lost its schema: undeclared properties may have any value"))
	default:
		c.sub(aa, ab, at)
	}

	// A name matching a pattern of one side falls under the same pattern
	// on the other side, or under its additionalProperties.
	pa, pb := patterns(a), patterns(b)
	for _, p := range slices.Sorted(maps.Keys(pb)) {
		va := aa
		if list, ok := pa[p]; ok {
			va = c.conj(list)
		}
		c.sub(va, c.conj(pb[p]), c.at(a, b, where, "patternProperties"))
	}
	for _, p := range slices.Sorted(maps.Keys(pa)) {
		if _, ok := pb[p]; !ok {
			c.sub(c.conj(pa[p]), ab, c.at(a, b, where, "patternProperties"))
		}
	}

	if pnb := b.keyword("propertyNames"); len(pnb) > 0 {
		c.sub(c.conj(a.keyword("propertyNames")), c.conj(pnb), c.at(a, b, where, "propertyNames"))
	}
	c.dependencies(a, b, where)
}

// property is the schema of one property name: each node's own, its
// matching patternProperties or its additionalProperties, all together.
func (c *checker) property(v view, name string) view {
	out := view{never: v.never}
	for _, n := range v.nodes {
		var s node
		found := false
		if p, ok := n.child("properties", name); ok {
			s, found = p, true
		}
		if !found {
			if pp, ok := n.child("patternProperties"); ok {
				for _, pat := range slices.Sorted(maps.Keys(pp.obj())) {
					if re, err := regexp.Compile(pat); err == nil && re.MatchString(name) {
						s, found = pp.child(pat)
						break
					}
				}
			}
		}
		if !found {
			if ap, ok := n.child("additionalProperties"); ok {
				s, found = ap, true
			}
		}
		if found {
			fv := c.flatten(s)
			out.nodes = append(out.nodes, fv.nodes...)
			out.never = out.never || fv.never
		}
	}
	return out
}

// additional is the schema of a property no node declares.
func (c *checker) additional(v view) view {
	return c.conj(v.keyword("additionalProperties"))
}

// conj is the view of several schemas together.
func (c *checker) conj(ns []node) view {
	var out view
	for _, n := range ns {
		fv := c.flatten(n)
		out.nodes = append(out.nodes, fv.nodes...)
		out.never = out.never || fv.never
	}
	return out
}

// patterns returns each patternProperties pattern with its schemas.
func patterns(v view) map[string][]node {
	out := map[string][]node{}
	for _, kw := range v.keyword("patternProperties") {
		for _, p := range slices.Sorted(maps.Keys(kw.obj())) {
			schema, _ := kw.child(p)
			out[p] = append(out[p], schema)
		}
	}
	return out
}

// propertyAt locates a property's schema in v, or where it would be.
func (c *checker) propertyAt(v view, where node, name string) node {
	for _, n := range v.nodes {
		if p, ok := n.child("properties", name); ok {
			return p
		}
	}
	return node{file: where.file, ptr: where.ptr + "/properties/" + escape(name)}
}

// dependencies: every dependentRequired entry of b must be implied by a.
func (c *checker) dependencies(a, b view, where node) {
	need := func(v view) map[string]map[string]bool {
		out := map[string]map[string]bool{}
		for _, kw := range append(v.keyword("dependentRequired"), v.keyword("dependencies")...) {
			for prop, list := range kw.obj() {
				items, ok := list.([]any)
				if !ok {
					continue
				}
				if out[prop] == nil {
					out[prop] = map[string]bool{}
				}
				for _, it := range items {
					if s, ok := it.(string); ok {
						out[prop][s] = true
					}
				}
			}
		}
		return out
	}
	da, db := need(a), need(b)
	req := a.required()
	for _, prop := range slices.Sorted(maps.Keys(db)) {
		for _, dep := range slices.Sorted(maps.Keys(db[prop])) {
			if da[prop][dep] {
				continue
			}
			if _, ok := req[dep]; ok {
				continue
			}
			c.report(c.at(a, b, where, "dependentRequired"), c.pick("dependentRequired-added", "dependentRequired-removed"),
				"with %s present, %s %s", quote(prop), quote(dep), c.pick("is required now", "is not required any more"))
		}
	}
}

func set(list []string) map[string]bool {
	out := map[string]bool{}
	for _, s := range list {
		out[s] = true
	}
	return out
}

func quote(s string) string { return `"` + s + `"` }
