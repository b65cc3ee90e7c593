package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLogWriterKeepsEveryLineInOrder(t *testing.T) {
	var out lockedBuffer
	w := newLogWriter(&out)
	const writers, lines = 8, 500
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < lines; i++ {
				fmt.Fprintf(w, "writer=%d line=%d\n", g, i)
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "after close\n")
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != writers*lines+1 || got[len(got)-1] != "after close" {
		t.Fatalf("got %d lines ending %q; want %d ending with the line written after Close", len(got), got[len(got)-1], writers*lines+1)
	}
	next := make([]int, writers)
	for _, line := range got[:len(got)-1] {
		var g, i int
		if _, err := fmt.Sscanf(line, "writer=%d line=%d", &g, &i); err != nil || i != next[g] {
			t.Fatalf("line %q: want writer %d's line %d (err %v)", line, g, next[g], err)
		}
		next[g]++
	}
}

// TestLogWriterHoldsBackWhenOutputStalls: a stalled stderr makes loggers
// wait once maxPendingLog bytes are queued, rather than grow the queue.
func TestLogWriterHoldsBackWhenOutputStalls(t *testing.T) {
	stall := make(chan struct{})
	out := &stalledWriter{release: stall}
	w := newLogWriter(out)
	line := bytes.Repeat([]byte("x"), 1024)
	wrote := make(chan int)
	go func() {
		n := 0
		for ; n < 4*maxPendingLog/len(line); n++ {
			_, _ = w.Write(line)
		}
		wrote <- n
	}()
	select {
	case n := <-wrote:
		t.Fatalf("wrote %d lines to a stalled output without waiting", n)
	case <-time.After(100 * time.Millisecond):
	}
	close(stall)
	<-wrote
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.n, 4*maxPendingLog; got != want {
		t.Fatalf("output got %d bytes; want %d", got, want)
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// stalledWriter blocks every write until release is closed.
type stalledWriter struct {
	release chan struct{}
	n       int // only the logWriter's goroutine writes
}

func (s *stalledWriter) Write(p []byte) (int, error) {
	<-s.release
	s.n += len(p)
	return len(p), nil
}

// BenchmarkLogToFile is the baseline of BenchmarkLogWriter: an access log
// line written to a file by the handler, one write(2) per line.
func BenchmarkLogToFile(b *testing.B) {
	benchmarkLog(b, func(f *os.File) io.Writer { return f })
}

// BenchmarkLogWriter is the same line through logWriter.
func BenchmarkLogWriter(b *testing.B) {
	var w *logWriter
	benchmarkLog(b, func(f *os.File) io.Writer { w = newLogWriter(f); return w })
	_ = w.Close()
}

func benchmarkLog(b *testing.B, wrap func(*os.File) io.Writer) {
	f, err := os.Create(filepath.Join(b.TempDir(), "log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	log := slog.New(slog.NewTextHandler(wrap(f), nil))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			log.Info("request", "request_id", "2Teu1T3dJDuXuj17dKMDkA", "method", "POST", "path", "/api/mirror/v1", "status", 200, "duration_ms", 4.106)
		}
	})
}
