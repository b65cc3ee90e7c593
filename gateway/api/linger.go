package api

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// DefaultLinger is how long a closed connection keeps draining what the
// client still sends, unless configured.
const DefaultLinger = 5 * time.Second

// LingeringListener wraps ln so that the gateway closes a connection the
// way nginx's lingering_close does: when it closes mid-request (a 413 sent
// before the body was read, a 431, a 400 for a malformed head), it shuts
// down its side for writing, then reads and discards what the client still
// sends, for at most linger, before it closes the socket.
//
// Without it, a client that writes its whole body before reading (Python's
// urllib and requests do) gets a connection reset instead of the answer:
// closing a socket with unread input makes the kernel send RST, and the
// client's write fails, or its kernel drops the answer. A connection closed
// while idle between requests closes at once: nothing of the client's is
// in flight, and a pooled client may keep it open indefinitely. linger <= 0
// returns ln as it is.
func LingeringListener(ln net.Listener, linger time.Duration) net.Listener {
	if linger <= 0 {
		return ln
	}
	return &lingerListener{Listener: ln, linger: linger}
}

type lingerListener struct {
	net.Listener
	linger time.Duration
}

func (l *lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lingerConn{Conn: c, linger: l.linger}, nil
}

// lingerConn is a connection whose Close lingers unless the server last
// marked it idle (see trackIdle).
type lingerConn struct {
	net.Conn
	linger time.Duration
	idle   atomic.Bool
	once   sync.Once
}

// halfCloser is a connection whose write side can be shut alone (TCP and
// Unix sockets).
type halfCloser interface{ CloseWrite() error }

// Close shuts the write side, so the client reads the answer and then EOF,
// and leaves a goroutine to drain and close the socket: the server's
// worker is free at once. It is safe to call more than once: fasthttp
// closes idle connections itself on shutdown, then again when they end.
func (c *lingerConn) Close() error {
	err := error(nil)
	c.once.Do(func() {
		hc, ok := c.Conn.(halfCloser)
		if c.idle.Load() || !ok {
			err = c.Conn.Close()
			return
		}
		if hc.CloseWrite() != nil || c.Conn.SetReadDeadline(time.Now().Add(c.linger)) != nil {
			err = c.Conn.Close() // already reset by the client: nothing to drain
			return
		}
		go func() {
			_, _ = io.Copy(io.Discard, c.Conn) // until the client's EOF, an error or the deadline
			_ = c.Conn.Close()
		}()
	})
	return err
}

// trackIdle is the fasthttp ConnState hook that tells a lingering
// connection whether it sits idle between requests, where closing needs no
// lingering.
func trackIdle(c net.Conn, state fasthttp.ConnState) {
	if lc, ok := c.(*lingerConn); ok {
		lc.idle.Store(state == fasthttp.StateIdle)
	}
}

// errNoSocket is SyscallConn's error for a connection that is not a socket.
var errNoSocket = errors.New("not a socket")

// SyscallConn is the wrapped socket's, so that watchHangup can peek at it.
func (c *lingerConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errNoSocket
	}
	return sc.SyscallConn()
}
