package api

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/notebridge/notebridge/gateway/replycache"
)

// HeaderCache says how the reply cache took part in a call of a contract
// with "cache": hit, miss (the reply was computed, and stored) or bypass
// (the client asked for a fresh reply).
const HeaderCache = "Notebridge-Cache"

// cacheWait bounds each exchange with the cache bucket: a slow cache is a
// miss, never a slow call.
const cacheWait = time.Second

// cacheDirectives reads a request's Cache-Control: no-cache asks for a
// fresh reply (which is stored), no-store for one that is not stored
// either (RFC 9111, section 5.2.1).
func cacheDirectives(header string) (lookup, store bool) {
	lookup, store = true, true
	for _, d := range strings.Split(header, ",") {
		name, _, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-cache":
			lookup = false
		case "no-store":
			lookup, store = false, false
		}
	}
	return lookup, store
}

// callCached answers a call of a contract with "cache" from the cache when
// it can; otherwise it calls the workers and stores a 200 reply. A cache
// that fails is logged and skipped: it never fails a call.
func callCached(c *fiber.Ctx, b *broker, cache *replycache.Cache, acc *accountant, log *slog.Logger, k *call) error {
	m := tracked(c).metrics
	lookup, store := cacheDirectives(c.Get(fiber.HeaderCacheControl))
	key := replycache.Key(k.ct, k.body)
	if lookup {
		ctx, cancel := context.WithTimeout(c.UserContext(), cacheWait)
		reply, age, err := cache.Get(ctx, key, k.ct.Cache.TTL())
		cancel()
		if err == nil {
			m.cached(k.ct, "hit")
			c.Set(HeaderCache, "hit")
			c.Set(fiber.HeaderAge, strconv.Itoa(int(age.Seconds())))
			c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
			return c.Send(reply)
		}
		if !errors.Is(err, replycache.ErrNotCached) {
			log.Warn("reply cache lookup failed; calling the workers", "request_id", k.requestID, "contract", k.ct.ID(), "err", err)
		}
		m.cached(k.ct, "miss")
		c.Set(HeaderCache, "miss")
	} else {
		m.cached(k.ct, "bypass")
		c.Set(HeaderCache, "bypass")
	}
	if err := callSync(c, b, acc, log, k); err != nil {
		return err
	}
	if store && c.Response().StatusCode() == fiber.StatusOK {
		ctx, cancel := context.WithTimeout(c.UserContext(), cacheWait)
		defer cancel()
		if err := cache.Put(ctx, key, c.Response().Body()); err != nil {
			log.Warn("reply cache store failed", "request_id", k.requestID, "contract", k.ct.ID(), "err", err)
		}
	}
	return nil
}
