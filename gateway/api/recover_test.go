package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// syncBuffer is a log destination the server writes and the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRecover: a handler that panics, with a string or an error, answers a
// 500 internal problem with the request id and nothing of the panic; the
// log has the panic and its stack under that id; the server goes on.
func TestRecover(t *testing.T) {
	var logs syncBuffer
	app := newApp(Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), BodyLimit: DefaultBodyLimit, HeaderLimit: DefaultHeaderLimit})
	app.Get("/panic", func(c *fiber.Ctx) error {
		c.Set("X-Half-Done", "yes")
		panic("secret-panic-value")
	})
	app.Get("/panic-error", func(c *fiber.Ctx) error { panic(fiber.ErrNotFound) })
	app.Get("/ok", func(c *fiber.Ctx) error { return c.SendString("ok") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(LingeringListener(ln, DefaultLinger)) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	base := "http://" + ln.Addr().String()

	for i, path := range []string{"/panic", "/panic-error", "/panic"} {
		id := "panic-" + strings.Repeat("x", i+1)
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set(HeaderRequestID, id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v; want the server to survive the panic", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 500 || resp.Header.Get("Content-Type") != mimeProblem {
			t.Fatalf("%s: got %d %s; want 500 %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), mimeProblem)
		}
		var p Problem
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		if p.Type != "urn:notebridge:problem:internal" || p.RequestID != id || resp.Header.Get(HeaderRequestID) != id {
			t.Errorf("%s: type %s, request_id %s, X-Request-Id %s; want internal and %s", path, p.Type, p.RequestID, resp.Header.Get(HeaderRequestID), id)
		}
		for _, leak := range []string{"secret-panic-value", "goroutine", ".go:", "Cannot GET"} {
			if strings.Contains(string(body), leak) {
				t.Errorf("%s: body %s holds %q", path, body, leak)
			}
		}
		if resp.Header.Get("X-Half-Done") != "" {
			t.Errorf("%s: the panicking handler's header reached the client", path)
		}
		var line struct {
			Panic string `json:"panic"`
			Stack string `json:"stack"`
		}
		if err := findLogLine(logs.String(), "handler panicked", id, &line); err != nil {
			t.Fatalf("%s: %v in log:\n%s", path, err, logs.String())
		}
		if !strings.Contains(line.Stack, "recover_test.go") || !strings.Contains(line.Stack, "goroutine") {
			t.Errorf("%s: stack %q; want the goroutine's stack down to the handler", path, line.Stack)
		}
		if path == "/panic" && line.Panic != "secret-panic-value" {
			t.Errorf("panic = %q; want secret-panic-value", line.Panic)
		}
	}
	resp, err := http.Get(base + "/ok")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the panics: %v %v; want 200", resp, err)
	}
	resp.Body.Close()
}

// findLogLine decodes into v the JSON log line with msg and request_id.
func findLogLine(logs, msg, requestID string, v any) error {
	for _, l := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil || m["msg"] != msg || m["request_id"] != requestID {
			continue
		}
		return json.Unmarshal([]byte(l), v)
	}
	return errors.New("no " + msg + " line for " + requestID)
}

// TestRecoverStreamWriter: a panic in a body stream writer, which runs after
// the handler returned, ends that stream with an error event of the
// internal problem; the log has the stack; the server goes on.
func TestRecoverStreamWriter(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	app := newApp(Config{Logger: log, BodyLimit: DefaultBodyLimit, HeaderLimit: DefaultHeaderLimit})
	app.Get("/stream", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "text/event-stream")
		streamBody(c, log, RequestIDOf(c), c.Path(), func(w *bufio.Writer) {
			writeEvent(w, "chunk", "1", []byte(`{"text":"a"}`))
			_ = w.Flush()
			panic("secret-stream-panic")
		})
		return nil
	})
	app.Get("/ok", func(c *fiber.Ctx) error { return c.SendString("ok") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	base := "http://" + ln.Addr().String()

	req, _ := http.NewRequest("GET", base+"/stream", nil)
	req.Header.Set(HeaderRequestID, "stream-panic")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	events := string(body)
	if !strings.Contains(events, "event: chunk") || !strings.Contains(events, "event: error") ||
		!strings.Contains(events, "urn:notebridge:problem:internal") || strings.Contains(events, "secret-stream-panic") {
		t.Fatalf("stream = %q; want the chunk, then an error event of the internal problem and nothing of the panic", events)
	}
	var line struct{ Stack string }
	if err := findLogLine(logs.String(), "stream writer panicked", "stream-panic", &line); err != nil || !strings.Contains(line.Stack, "recover_test.go") {
		t.Fatalf("%v; stack %q; want the writer's stack in the log", err, line.Stack)
	}
	resp, err = http.Get(base + "/ok")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the panic: %v %v; want 200", resp, err)
	}
	resp.Body.Close()
}
