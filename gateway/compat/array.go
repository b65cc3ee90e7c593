package compat

// arrays compares the keywords of arrays: items and prefixItems (or the
// array form of items with additionalItems), the length bounds,
// uniqueItems and contains.
func (c *checker) arrays(a, b view, where node) {
	prefA, restA := c.items(a)
	prefB, restB := c.items(b)
	n := max(len(prefA), len(prefB))
	for i := 0; i < n; i++ {
		sa, sb := restA, restB
		if i < len(prefA) {
			sa = prefA[i]
		}
		if i < len(prefB) {
			sb = prefB[i]
		}
		at := node{file: where.file, ptr: where.ptr + "/prefixItems/" + itoa(i)}
		c.sub(sa, sb, at)
	}
	c.sub(restA, restB, c.at(a, b, where, "items"))

	c.bounds(a, b, where, true, "maxItems")
	c.bounds(a, b, where, false, "minItems")
	if at, ok := b.isTrue("uniqueItems"); ok {
		if _, okA := a.isTrue("uniqueItems"); !okA {
			if !c.oldIsSub {
				at = c.at(a, b, where, "uniqueItems")
			}
			c.report(at, c.pick("uniqueItems-added", "uniqueItems-removed"), "%s", c.pick(
				"items must be unique now", "items need not be unique any more"))
		}
	}
	for _, cb := range b.keyword("contains") {
		vb := c.flatten(cb)
		fits := false
		for _, ca := range a.keyword("contains") {
			va := c.flatten(ca)
			if len(c.trial(func(t *checker) { t.sub(va, vb, where) })) == 0 {
				fits = true
				break
			}
		}
		if !fits {
			c.report(c.at(a, b, where, "contains"), c.pick("contains-added", "contains-removed"), "%s", c.pick(
				"arrays must contain a matching item now", "arrays need not contain the item the old schema asks for"))
		}
	}
}

// items returns the positional item schemas and the schema of the items
// after them.
func (c *checker) items(v view) ([]view, view) {
	var prefix []view
	var rest []node
	for _, n := range v.nodes {
		if p, ok := n.child("prefixItems"); ok {
			prefix = c.positional(p, prefix)
			if it, ok := n.child("items"); ok {
				rest = append(rest, it)
			}
			continue
		}
		it, ok := n.child("items")
		if !ok {
			continue
		}
		if _, isList := it.v.([]any); isList { // draft 2019-09 and before
			prefix = c.positional(it, prefix)
			if ai, ok := n.child("additionalItems"); ok {
				rest = append(rest, ai)
			}
			continue
		}
		rest = append(rest, it)
	}
	return prefix, c.conj(rest)
}

func (c *checker) positional(list node, into []view) []view {
	items, _ := list.v.([]any)
	for i := range items {
		it, _ := list.child(itoa(i))
		fv := c.flatten(it)
		if i < len(into) {
			into[i].nodes = append(into[i].nodes, fv.nodes...)
			into[i].never = into[i].never || fv.never
		} else {
			into = append(into, fv)
		}
	}
	return into
}
