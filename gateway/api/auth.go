package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/keys"
)

// Authenticator checks a request's API key; *keys.Store is the gateway's.
type Authenticator interface {
	Authenticate(token string) (*keys.Key, error)
}

// RateLimiter decides whether a key may make one more call;
// *keys.Limiter is the gateway's, shared by every replica through NATS.
type RateLimiter interface {
	Allow(ctx context.Context, k *keys.Key) (keys.Decision, error)
}

// rateLimitTimeout bounds the NATS work of one rate decision.
const rateLimitTimeout = 2 * time.Second

// keyLocal is where RequireKey leaves the request's key.
const keyLocal = "notebridge.key"

// RequireKey admits a request only with a known API key in its
// Authorization header ("Bearer nb_..."): 401 without one or with an
// unknown one, 503 while the keys are not loaded, 429 past the key's rate
// (limiter may be nil: no rates). The key is never logged; its name is,
// in the access log.
func RequireKey(auth Authenticator, limiter RateLimiter) fiber.Handler {
	return func(c *fiber.Ctx) error {
		token, err := keys.FromHeader(c.Get(fiber.HeaderAuthorization))
		if err == nil {
			var k *keys.Key
			if k, err = auth.Authenticate(token); err == nil {
				c.Locals(keyLocal, k)
				if err := checkRate(c, limiter, k); err != nil {
					return err
				}
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

// holdToTenant refuses a call of a tenant-scoped contract, made with a key
// bound to a tenant, for another tenant (or for none). body passed the
// request schema.
func holdToTenant(c *fiber.Ctx, ct *contracts.Contract, body []byte) error {
	k := keyOf(c)
	if k == nil || k.Tenant == "" || ct.Tenant == nil {
		return nil
	}
	v, err := contracts.DecodeJSON(body)
	if err != nil {
		return err
	}
	if got, ok := ct.TenantOf(v); !ok || got != k.Tenant {
		return wrongTenant(ct, k, got, ok)
	}
	return nil
}

// checkRate spends one call of k's rate, and says where k stands in the
// IETF RateLimit-Policy and RateLimit headers.
func checkRate(c *fiber.Ctx, limiter RateLimiter, k *keys.Key) error {
	if limiter == nil || k.Rate <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), rateLimitTimeout)
	defer cancel()
	d, err := limiter.Allow(ctx, k)
	if err != nil {
		return rateStateUnavailable(err)
	}
	c.Set("RateLimit-Policy", fmt.Sprintf(`"key";q=%d;w=%d`, d.Limit, ceilSeconds(d.Window)))
	c.Set("RateLimit", fmt.Sprintf(`"key";r=%d;t=%d`, d.Remaining, ceilSeconds(d.Reset)))
	if !d.Allowed {
		return rateLimited(k, d.RetryAfter)
	}
	return nil
}

// ceilSeconds rounds up to whole seconds, at least 1 for any wait.
func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}
