package api

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/keys"
)

// Authenticator checks a request's API key; *keys.Store is the gateway's.
type Authenticator interface {
	Authenticate(token string) (*keys.Key, error)
}

// keyLocal is where RequireKey leaves the request's key.
const keyLocal = "notebridge.key"

// RequireKey admits a request only with a known API key in its
// Authorization header ("Bearer nb_..."): 401 without one or with an
// unknown one, 503 while the keys are not loaded. The key is never logged;
// its name is, in the access log.
func RequireKey(auth Authenticator) fiber.Handler {
	return func(c *fiber.Ctx) error {
		token, err := keys.FromHeader(c.Get(fiber.HeaderAuthorization))
		if err == nil {
			var k *keys.Key
			if k, err = auth.Authenticate(token); err == nil {
				c.Locals(keyLocal, k)
				return c.Next()
			}
		}
		switch {
		case errors.Is(err, keys.ErrMissing):
			return unauthorized("this route needs an API key: send Authorization: Bearer <key>")
		case errors.Is(err, keys.ErrNotReady):
			return keysNotReady()
		}
		return unauthorized("the API key is not one this gateway knows: it is malformed, or was revoked")
	}
}

// keyOf is the request's API key, nil when the gateway runs without keys.
func keyOf(c *fiber.Ctx) *keys.Key {
	k, _ := c.Locals(keyLocal).(*keys.Key)
	return k
}

// keyName is the name of the request's key, for the access log.
func keyName(c *fiber.Ctx) string {
	if k := keyOf(c); k != nil {
		return k.Name
	}
	return ""
}

// owner is the job owner of the request: its key's id, "" without keys.
func owner(c *fiber.Ctx) string {
	if k := keyOf(c); k != nil {
		return k.ID
	}
	return ""
}

// allow refuses a call with a key that may not call ct.
func allow(c *fiber.Ctx, ct *contracts.Contract) error {
	if k := keyOf(c); k != nil && !k.Allows(ct.Name, ct.Version) {
		return forbidden(ct, k)
	}
	return nil
}
