package api

import (
	"bufio"
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

// streamBody sets write as the body stream writer of c, which fasthttp runs
// after the handler has returned, in a goroutine of its own, beyond the
// reach of Recover: a panic in write is logged with its stack, like
// Recover's, and ends the stream with an error event of the internal
// problem, not the process.
func streamBody(c *fiber.Ctx, log *slog.Logger, requestID, instance string, write func(w *bufio.Writer)) {
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			log.Error("stream writer panicked", "request_id", requestID, "path", instance,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			writeEvent(w, "error", "", internalError().render(requestID, instance))
			_ = w.Flush()
		}()
		write(w)
	})
}
