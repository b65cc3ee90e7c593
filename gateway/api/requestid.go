package api

import (
	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nuid"
)

// HeaderRequestID carries the request id on HTTP requests and responses.
const HeaderRequestID = "X-Request-Id"

const requestIDKey = "notebridge.request_id"

// maxRequestIDLen bounds an incoming id so it cannot bloat logs and headers.
const maxRequestIDLen = 128

// RequestID is the middleware that gives every request an id: the client's
// X-Request-Id when it is sane, a new one otherwise. The id is echoed on the
// response, sent to the worker and written in every log line.
func RequestID() fiber.Handler {
	return func(c *fiber.Ctx) error {
		RequestIDOf(c)
		return c.Next()
	}
}

// RequestIDOf returns the request's id, assigning one on first use; errors
// raised before the middleware runs (an oversized body) get one this way.
func RequestIDOf(c *fiber.Ctx) string {
	if id, ok := c.Locals(requestIDKey).(string); ok {
		return id
	}
	id := c.Get(HeaderRequestID)
	if !saneRequestID(id) {
		id = nuid.Next()
	}
	c.Locals(requestIDKey, id)
	c.Set(HeaderRequestID, id)
	return id
}

// saneRequestID accepts ids made of the characters that tracing systems
// and UUIDs use, and nothing that could split a header or a log line.
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		case ch == '-', ch == '_', ch == '.', ch == ':':
		default:
			return false
		}
	}
	return true
}
