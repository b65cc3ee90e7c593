package contracts

import (
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
)

// ErrUnknownContract is returned for a contract name that was never loaded.
var ErrUnknownContract = errors.New("unknown contract")

// ErrUnknownVersion is returned for a known contract without the asked version.
var ErrUnknownVersion = errors.New("unknown contract version")

// Registry holds the loaded contracts, safe for concurrent use. Its set
// changes only as a whole, by Replace: a reader sees the old set or the
// new one, never a mix.
type Registry struct {
	cur        atomic.Pointer[contractSet]
	generation atomic.Uint64
}

// contractSet is one set of contracts, read-only once loaded.
type contractSet struct {
	byName map[string][]*Contract // versions in ascending order
	all    []*Contract
}

func newRegistry() *Registry {
	r := &Registry{}
	r.cur.Store(&contractSet{byName: map[string][]*Contract{}})
	return r
}

func (r *Registry) set() *contractSet { return r.cur.Load() }

// Replace makes next's contracts this registry's, at once: every later
// lookup sees them, while calls already under way keep the contracts they
// hold. The gateway reloads its contract files this way (SIGHUP).
func (r *Registry) Replace(next *Registry) {
	r.cur.Store(next.set())
	r.generation.Add(1)
}

// Generation counts the Replace calls, so that what is built from the
// contracts (the OpenAPI document) knows when to build again.
func (r *Registry) Generation() uint64 { return r.generation.Load() }

func (r *Registry) add(c *Contract) error {
	set := r.set()
	for _, other := range set.byName[c.Name] {
		if other.Version == c.Version {
			return fmt.Errorf("%w: %s and %s both define %s", ErrInvalidContract, other.ManifestFile, c.ManifestFile, c.ID())
		}
	}
	versions := append(set.byName[c.Name], c)
	sort.Slice(versions, func(i, j int) bool { return versions[i].Version < versions[j].Version })
	set.byName[c.Name] = versions
	set.all = append(set.all, c)
	sort.Slice(set.all, func(i, j int) bool {
		if set.all[i].Name != set.all[j].Name {
			return set.all[i].Name < set.all[j].Name
		}
		return set.all[i].Version < set.all[j].Version
	})
	return nil
}

// Lookup returns version of the named contract.
func (r *Registry) Lookup(name string, version int) (*Contract, error) {
	versions, ok := r.set().byName[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownContract, name)
	}
	for _, c := range versions {
		if c.Version == version {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w: %s has no v%d", ErrUnknownVersion, name, version)
}

// Latest returns the highest version of the named contract that is not
// deprecated, or the highest version when all of them are.
func (r *Registry) Latest(name string) (*Contract, error) {
	versions, ok := r.set().byName[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownContract, name)
	}
	for i := len(versions) - 1; i >= 0; i-- {
		if !versions[i].Deprecated {
			return versions[i], nil
		}
	}
	return versions[len(versions)-1], nil
}

// HasJobs reports whether a job contract is among the contracts: the
// gateway sets up job mode (its routes, its JetStream objects) only then.
func (r *Registry) HasJobs() bool {
	for _, c := range r.All() {
		if c.Mode == ModeJob {
			return true
		}
	}
	return false
}

// All returns every contract, ordered by name then version.
func (r *Registry) All() []*Contract { return r.set().all }
