package keys

import (
	"fmt"
	"regexp"
)

// tenantPattern keeps tenants printable, short and free of JSON escapes.
var tenantPattern = regexp.MustCompile(`^[A-Za-z0-9._:@-]{1,128}$`)

// WithTenant binds the key to one tenant: a call it makes of a
// tenant-scoped contract (a manifest with "tenant") must be for that
// tenant, or the gateway refuses it with 403. A key without a tenant may
// call for any.
func WithTenant(tenant string) Option {
	return func(k *Key) error {
		if !tenantPattern.MatchString(tenant) {
			return fmt.Errorf("%w: tenant %q must match %s", ErrInvalid, tenant, tenantPattern)
		}
		k.Tenant = tenant
		return nil
	}
}
