package main

import (
	"io"
	"sync"
)

// maxPendingLog is how many bytes of log lines may wait for the writer
// before loggers wait for it too, as they would for a slow stderr.
const maxPendingLog = 1 << 20

// logWriter moves the write(2) of log lines off the request path: Write
// queues a line and one goroutine writes what is queued, so lines that
// arrive while it writes go out together in its next write. A request
// then pays for an append, where it paid for a system call for its
// access log line. An idle gateway writes each line at once, as before.
type logWriter struct {
	out  io.Writer
	kick chan struct{} // has a value when lines wait
	done chan struct{} // closed when the writer has drained and stopped

	mu      sync.Mutex
	room    sync.Cond // signalled when the queue shrinks
	pending []byte
	closed  bool
}

func newLogWriter(out io.Writer) *logWriter {
	w := &logWriter{out: out, kick: make(chan struct{}, 1), done: make(chan struct{})}
	w.room.L = &w.mu
	go w.run()
	return w
}

// Write queues p, a whole line from a slog handler. After Close it writes
// p itself.
func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	for len(w.pending) >= maxPendingLog && !w.closed {
		w.room.Wait()
	}
	if w.closed {
		w.mu.Unlock()
		<-w.done // after the queued lines, not among them
		return w.out.Write(p)
	}
	w.pending = append(w.pending, p...)
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default: // the writer is already due to look
	}
	return len(p), nil
}

func (w *logWriter) run() {
	defer close(w.done)
	var batch []byte
	for range w.kick {
		w.mu.Lock()
		batch, w.pending = w.pending, batch[:0]
		closed := w.closed
		w.room.Broadcast()
		w.mu.Unlock()
		if len(batch) > 0 {
			_, _ = w.out.Write(batch) // a handler could do no more with the error than drop the line
		}
		if closed {
			return
		}
	}
}

// Close writes the lines still queued and stops the writer; it is safe to
// call more than once.
func (w *logWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.done
		return nil
	}
	w.closed = true
	w.room.Broadcast()
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	<-w.done
	return nil
}
