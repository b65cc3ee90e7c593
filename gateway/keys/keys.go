// Package keys issues and checks the API keys clients call the gateway
// with. A key is shown once, as "nb_<id>_<secret>"; the store keeps its
// non-secret id, its name, what it may call and the SHA-256 of its secret,
// never the secret, in a JetStream key-value bucket that every gateway
// replica watches, so a key created or revoked on one is known to all.
package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Errors of Authenticate and the Store.
var (
	// ErrMissing is returned for a request that carries no key.
	ErrMissing = errors.New("no API key")
	// ErrUnknown is returned for a key that is malformed, was never
	// issued, or was revoked.
	ErrUnknown = errors.New("unknown API key")
	// ErrNotReady is returned while the store has not read its bucket yet.
	ErrNotReady = errors.New("API keys not loaded yet")
	// ErrInvalid is wrapped by the errors of a key that cannot be created.
	ErrInvalid = errors.New("invalid API key settings")
	// ErrNotFound is returned when revoking a key no id or name matches.
	ErrNotFound = errors.New("no such API key")
)

// Prefix starts every key, so that a secret scanner (and a person) can
// tell one in a log or a repository.
const Prefix = "nb_"

// Key is what the store holds of an API key: never its secret.
type Key struct {
	// ID is the non-secret part of the key, 12 hex digits: the key is
	// looked up by it, and it names the key in logs and job ownership.
	ID string `json:"id"`
	// Name says whose key it is, for people: unique among the keys.
	Name string `json:"name"`
	// Hash is "sha256:<hex>" of the secret.
	Hash string `json:"hash"`
	// Contracts lists what the key may call: "name" (every version),
	// "name/vN", or "*" (everything).
	Contracts []string `json:"contracts"`
	// Rate is the calls per second the key may make on average, across
	// every gateway replica; 0 means no limit.
	Rate float64 `json:"rate,omitempty"`
	// Burst is how many calls it may make at once; 0 means Rate rounded
	// up, at least 1.
	Burst int `json:"burst,omitempty"`
	// Budgets bound what the key's calls may spend per period.
	Budgets []Budget `json:"budgets,omitempty"`
	// UsageReader lets the key read every key's usage (GET /usage).
	UsageReader bool `json:"usage_reader,omitempty"`
	// Tenant, when set, is the only tenant the key may call
	// tenant-scoped contracts for (WithTenant).
	Tenant string `json:"tenant,omitempty"`
	// CreatedAt is when the key was issued.
	CreatedAt time.Time `json:"created_at"`
}

// Allows reports whether the key may call version of contract name.
func (k *Key) Allows(name string, version int) bool {
	id := name + "/v" + strconv.Itoa(version)
	return slices.ContainsFunc(k.Contracts, func(c string) bool { return c == "*" || c == name || c == id })
}

// grantPattern is one entry of Key.Contracts.
var grantPattern = regexp.MustCompile(`^(\*|[a-z][a-z0-9_-]{0,63}(/v[1-9][0-9]*)?)$`)

// namePattern keeps key names printable and short.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// tokenPattern is a whole key: the prefix, the id, the secret (32 bytes
// of base64url).
var tokenPattern = regexp.MustCompile(`^nb_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$`)

// newKey makes a key for name allowed to call grants: the key as stored,
// and the token to give its holder, once.
func newKey(name string, grants []string, now time.Time) (*Key, string, error) {
	if !namePattern.MatchString(name) {
		return nil, "", fmt.Errorf("%w: name %q must match %s", ErrInvalid, name, namePattern)
	}
	if len(grants) == 0 {
		return nil, "", fmt.Errorf("%w: a key must be allowed at least one contract (or *)", ErrInvalid)
	}
	for _, g := range grants {
		if !grantPattern.MatchString(g) {
			return nil, "", fmt.Errorf("%w: %q is not a contract name, name/vN, or *", ErrInvalid, g)
		}
	}
	var id [6]byte
	var secret [32]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails (Go 1.24+)
	_, _ = rand.Read(secret[:])
	k := &Key{
		ID:        hex.EncodeToString(id[:]),
		Name:      name,
		Contracts: slices.Clone(grants),
		CreatedAt: now.UTC(),
	}
	token := Prefix + k.ID + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	k.Hash = hashSecret(token)
	return k, token, nil
}

// hashSecret is what the store keeps of a token. The secret has 256
// random bits, so a fast hash is enough: no password-style stretching.
func hashSecret(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// parseToken returns the id of a well-formed token.
func parseToken(token string) (id string, ok bool) {
	m := tokenPattern.FindStringSubmatch(token)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// matches reports, in constant time, whether token is the key's.
func (k *Key) matches(token string) bool {
	return subtle.ConstantTimeCompare([]byte(hashSecret(token)), []byte(k.Hash)) == 1
}

// FromHeader takes the key out of an Authorization header's value
// ("Bearer nb_...").
func FromHeader(authorization string) (string, error) {
	scheme, token, found := strings.Cut(strings.TrimSpace(authorization), " ")
	if authorization == "" {
		return "", ErrMissing
	}
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: the Authorization header must be \"Bearer <key>\"", ErrUnknown)
	}
	return strings.TrimSpace(token), nil
}
