package api

import (
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/gofiber/fiber/v2"
)

// Recover is the middleware that keeps a handler's panic from ending the
// process: the client gets a 500 internal problem with the request id,
// the log gets the panic and its stack under that id, and the response
// the handler had begun (headers, a body stream) is dropped. Fiber's own
// recover middleware would pass a panic that is an error value on to the
// error handler as it is, so panic(fiber.ErrNotFound) would answer 404;
// this one always answers 500.
func Recover(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			id := RequestIDOf(c)
			log.Error("handler panicked", "request_id", id, "method", c.Method(), "path", c.Path(),
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			c.Response().Reset()
			c.Set(HeaderRequestID, id)
			err = internalError()
		}()
		return c.Next()
	}
}
