package contracts

// A tenant-scoped contract names, in its manifest's "tenant", the request
// member that says which tenant a request is for. The gateway holds it to
// the caller's API key (a key bound to a tenant calls for that tenant
// only), and a composition passes it on to every tenant-scoped contract it
// calls (docs/contracts.md, "Tenant-scoped contracts").

// tenantProblems returns how the tenant member breaks the rules.
func (m *manifest) tenantProblems(add func(ptr, format string, args ...any)) {
	if m.Tenant == nil {
		return
	}
	p, err := ParsePointer(*m.Tenant)
	switch {
	case err != nil:
		add("/tenant", "%v", err)
	case len(p) == 0:
		add("/tenant", "must point at a member of the request, not the whole request")
	}
}

// TenantOf returns the tenant a decoded request of c is for, and whether
// it names one: the string at c's tenant pointer. A contract that is not
// tenant-scoped names none.
func (c *Contract) TenantOf(request any) (string, bool) {
	if c.Tenant == nil {
		return "", false
	}
	v, ok := c.Tenant.Resolve(request)
	s, isString := v.(string)
	return s, ok && isString
}

// tenantCallProblems returns a finding for each branch of composed
// contract c that calls a tenant-scoped contract when c is not
// tenant-scoped itself: the tenant its client was held to must be passed
// on.
func tenantCallProblems(c *Contract) []Finding {
	if c.Tenant != nil {
		return nil
	}
	var out []Finding
	for _, s := range c.Compose.Steps {
		for _, b := range s.Branches {
			if b.Target != nil && b.Target.Tenant != nil {
				out = append(out, finding(c.ManifestFile, b.at+"/call",
					"%s is tenant-scoped: a composition that calls it must be tenant-scoped too (declare %q)", b.Call, "tenant"))
			}
		}
	}
	return out
}
