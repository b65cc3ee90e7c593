package contracts

import (
	"errors"
	"fmt"
	"sort"
)

// ErrUnknownContract is returned for a contract name that was never loaded.
var ErrUnknownContract = errors.New("unknown contract")

// ErrUnknownVersion is returned for a known contract without the asked version.
var ErrUnknownVersion = errors.New("unknown contract version")

// Registry holds the loaded contracts. It is read-only after Load and safe
// for concurrent use.
type Registry struct {
	byName map[string][]*Contract // versions in ascending order
	all    []*Contract
}

func newRegistry() *Registry { return &Registry{byName: map[string][]*Contract{}} }

func (r *Registry) add(c *Contract) error {
	for _, other := range r.byName[c.Name] {
		if other.Version == c.Version {
			return fmt.Errorf("%w: %s and %s both define %s", ErrInvalidContract, other.ManifestFile, c.ManifestFile, c.ID())
		}
	}
	versions := append(r.byName[c.Name], c)
	sort.Slice(versions, func(i, j int) bool { return versions[i].Version < versions[j].Version })
	r.byName[c.Name] = versions
	r.all = append(r.all, c)
	sort.Slice(r.all, func(i, j int) bool {
		if r.all[i].Name != r.all[j].Name {
			return r.all[i].Name < r.all[j].Name
		}
		return r.all[i].Version < r.all[j].Version
	})
	return nil
}

// Lookup returns version of the named contract.
func (r *Registry) Lookup(name string, version int) (*Contract, error) {
	versions, ok := r.byName[name]
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
	versions, ok := r.byName[name]
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

// All returns every contract, ordered by name then version.
func (r *Registry) All() []*Contract { return r.all }
