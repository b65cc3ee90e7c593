package compat

import (
	"maps"
	"math/big"
	"slices"
)

// strings compares the keywords of strings: length bounds and pattern.
func (c *checker) strings(a, b view, where node) {
	c.bounds(a, b, where, true, "maxLength")
	c.bounds(a, b, where, false, "minLength")
	pa, pb := a.strings("pattern"), b.strings("pattern")
	for _, p := range slices.Sorted(maps.Keys(pb)) {
		if _, ok := pa[p]; ok {
			continue
		}
		var others []string
		for q := range pa {
			others = append(others, q)
		}
		oldP, newP := others, []string{p}
		if !c.oldIsSub {
			oldP, newP = newP, others
		}
		at := c.at(a, b, where, "pattern")
		switch {
		case len(oldP) == 0:
			c.report(at, "pattern-added", "pattern %q added", newP[0])
		case len(newP) == 0:
			c.report(at, "pattern-removed", "pattern %q removed: values it rejected may now be sent", oldP[0])
		default:
			c.report(at, "pattern-changed", "pattern changed from %q to %q", oldP[0], newP[0])
		}
	}
}

// numbers compares the keywords of numbers: bounds and multipleOf.
func (c *checker) numbers(a, b view, where node) {
	c.bounds(a, b, where, true, "maximum", "exclusiveMaximum")
	c.bounds(a, b, where, false, "minimum", "exclusiveMinimum")
	for _, mb := range b.keyword("multipleOf") {
		rb, ok := number(mb.v)
		if !ok || rb.Sign() == 0 {
			continue
		}
		fits := false
		for _, ma := range a.keyword("multipleOf") {
			if ra, ok := number(ma.v); ok && new(big.Rat).Quo(ra, rb).IsInt() {
				fits = true
				break
			}
		}
		if !fits {
			c.report(c.at(a, b, where, "multipleOf"), c.pick("multipleOf-narrowed", "multipleOf-widened"),
				"multipleOf %s: %s", decimal(rb), c.pick("values accepted before are rejected now", "the old schema asked for multiples of it"))
		}
	}
}

// bounds compares one kind of bound (maxLength, minimum with
// exclusiveMinimum, ...): a's must be at least as tight as b's. upper says
// whether the bound is a maximum.
func (c *checker) bounds(a, b view, where node, upper bool, names ...string) {
	ba, bb := a.tightest(upper, names...), b.tightest(upper, names...)
	if !bb.set() {
		return
	}
	if ba.set() {
		cmp := ba.val.Cmp(bb.val)
		if (upper && cmp < 0) || (!upper && cmp > 0) || (cmp == 0 && (!bb.excl || ba.excl)) {
			return
		}
	}
	oldB, newB := ba, bb
	if !c.oldIsSub {
		oldB, newB = bb, ba
	}
	at := node{file: where.file, ptr: where.ptr + "/" + names[0]}
	if newB.set() {
		at = newB.at
	}
	name := keywordOf(newB, names[0])
	switch {
	case !oldB.set():
		c.report(at, name+"-added", "%s %s added", name, show(newB))
	case !newB.set():
		name = keywordOf(oldB, names[0])
		c.report(at, name+"-removed", "%s removed (it was %s)", name, show(oldB))
	default:
		oldName := keywordOf(oldB, names[0])
		verb := "increased"
		if newB.val.Cmp(oldB.val) < 0 {
			verb = "decreased"
		}
		switch {
		case newB.val.Cmp(oldB.val) == 0 && newB.excl:
			c.report(at, name+"-added", "%s %s became %s %s", oldName, show(oldB), name, show(newB))
		case newB.val.Cmp(oldB.val) == 0:
			c.report(at, oldName+"-removed", "%s %s became %s %s", oldName, show(oldB), name, show(newB))
		case oldName != name:
			c.report(at, name+"-"+verb, "%s %s became %s %s", oldName, show(oldB), name, show(newB))
		default:
			c.report(at, name+"-"+verb, "%s %s from %s to %s", name, verb, show(oldB), show(newB))
		}
	}
}

// keywordOf names the keyword a bound comes from.
func keywordOf(b *bound, fallback string) string {
	if !b.set() {
		return fallback
	}
	return b.at.ptr[lastSlash(b.at.ptr)+1:]
}

func lastSlash(p string) int {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return i
		}
	}
	return -1
}

func show(b *bound) string { return decimal(b.val) }

// decimal writes r as a decimal when it has a finite one, as a fraction
// otherwise.
func decimal(r *big.Rat) string {
	if r.IsInt() {
		return r.RatString()
	}
	for prec := 1; prec <= 40; prec++ {
		s := r.FloatString(prec)
		if back, ok := new(big.Rat).SetString(s); ok && back.Cmp(r) == 0 {
			return s
		}
	}
	return r.RatString()
}
