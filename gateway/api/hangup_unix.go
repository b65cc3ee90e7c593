//go:build unix

package api

import (
	"errors"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
)

// watchHangup returns a channel that is closed when the client of c closes
// its connection while the handler runs, and a func that ends the watch,
// which must be called before the handler returns. fasthttp reads nothing
// from a connection until its handler returns, so a client that leaves
// would go unnoticed until the answer is written: the watch peeks at the
// socket, consuming nothing. A client that half-closes its side after the
// request counts as gone. On a connection that is not a socket (app.Test's)
// the channel is nil: never closed.
func watchHangup(c *fiber.Ctx) (gone <-chan struct{}, stop func()) {
	conn := c.Context().Conn()
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, func() {}
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, func() {}
	}
	// fasthttp's read deadline for the request must not end the watch of
	// an answer that takes longer.
	if conn.SetReadDeadline(time.Time{}) != nil {
		return nil, func() {}
	}
	closed := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var b [1]byte
		_ = raw.Read(func(fd uintptr) bool {
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			switch {
			case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
				return false // nothing to read yet: wait until there is
			case n == 0 || err != nil: // end of stream, or reset
				close(closed)
			}
			// n > 0: the client sent more (a pipelined request), so it is
			// still there; stop watching rather than read its bytes.
			return true
		})
	}()
	return closed, func() {
		_ = conn.SetReadDeadline(time.Unix(1, 0)) // wakes the watch up
		<-done
		_ = conn.SetReadDeadline(time.Time{})
	}
}
