package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/notebridge/notebridge/gateway/internal/contracttest"
	"github.com/notebridge/notebridge/gateway/internal/refworker"
	"github.com/notebridge/notebridge/gateway/wire"
)

// streamContracts writes two stream test contracts: tokens (its chunks can
// be merged into one reply) and raw (they cannot). Their worker sends one
// chunk per word of the request's text.
func streamContracts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"schemas/request.json": `{"type": "object", "required": ["text"], "additionalProperties": false, "properties": {
			"text": {"type": "string", "maxLength": 200}, "delay_ms": {"type": "integer", "minimum": 0},
			"behavior": {"enum": ["fail", "die", "bad_chunk", "fail_first"]}}}`,
		"schemas/chunk.json": `{"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}`,
		"schemas/reply.json": `{"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}`,
		"contracts/tokens.v1.json": `{"name": "tokens", "version": 1, "description": "words as a stream", "mode": "stream",
			"timeout_seconds": 5, "idle_timeout_seconds": 0.5, "request_schema": "../schemas/request.json",
			"chunk_schema": "../schemas/chunk.json", "response_schema": "../schemas/reply.json", "merge": {"concat": "text"},
			"examples": [{"name": "two words", "request": {"text": "hello world"}, "response": {"text": "hello world "}}]}`,
		"contracts/raw.v1.json": `{"name": "raw", "version": 1, "description": "words, not mergeable", "mode": "stream",
			"timeout_seconds": 5, "request_schema": "../schemas/request.json", "chunk_schema": "../schemas/chunk.json",
			"examples": [{"name": "one word", "request": {"text": "hi"}}]}`,
	}
	contracttest.Tree(files).Write(t, dir)
	return filepath.Join(dir, "contracts")
}

// sseEvent is one Server-Sent Event as a client reads it.
type sseEvent struct {
	name, id, data string
}

// readEvent reads the next event, skipping comments (heartbeats).
func readEvent(t *testing.T, r *bufio.Reader) sseEvent {
	t.Helper()
	var ev sseEvent
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v (event so far %+v)", err, ev)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && ev.name != "":
			return ev
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
}

func openSSE(t *testing.T, url, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", jsonCT)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestStreamRelaysChunksAsTheyCome(t *testing.T) {
	g := newGatewayWith(t, streamContracts(t))
	var cancelled, chunksSent atomic.Int32
	g.serve(t, "tokens", []int{1},
		refworker.WithCancelled(func(string) { cancelled.Add(1) }),
		refworker.WithSent(func(kind string) {
			if kind == "chunk" {
				chunksSent.Add(1)
			}
		}))
	base := g.listen(t)

	resp := openSSE(t, base+"/api/tokens", `{"text": "one two three", "delay_ms": 400}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("got %d %q; want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	r := bufio.NewReader(resp.Body)
	first := readEvent(t, r)
	// The worker waits 400ms between words: a gateway that buffered would
	// deliver the first chunk only after the worker sent them all.
	if n := chunksSent.Load(); n >= 3 {
		t.Errorf("the first chunk reached the client after the worker sent %d of 3; want it before the handler finished", n)
	}
	if first != (sseEvent{"chunk", "1", `{"text":"one "}`}) {
		t.Fatalf("first event = %+v; want chunk 1 {\"text\":\"one \"}", first)
	}
	var rest []sseEvent
	for ev := readEvent(t, r); ; ev = readEvent(t, r) {
		rest = append(rest, ev)
		if ev.name != "chunk" {
			break
		}
	}
	want := []sseEvent{{"chunk", "2", `{"text":"two "}`}, {"chunk", "3", `{"text":"three "}`}, {"end", "", `{"chunks":3}`}}
	if len(rest) != len(want) {
		t.Fatalf("events after the first = %+v; want %+v", rest, want)
	}
	for i := range want {
		if rest[i] != want[i] {
			t.Errorf("event %d = %+v; want %+v", i+2, rest[i], want[i])
		}
	}
	if n := cancelled.Load(); n != 0 {
		t.Errorf("worker saw %d cancels of a stream that ended by itself; want 0", n)
	}
}

func TestStreamFailures(t *testing.T) {
	g := newGatewayWith(t, streamContracts(t))
	g.serve(t, "tokens", []int{1})
	base := g.listen(t)
	tests := []struct {
		name, body, problemType, code string
	}{
		{"worker error mid-stream", `{"text": "a b c", "behavior": "fail"}`, "worker-error", "tokens_failed"},
		{"worker dies mid-stream", `{"text": "a b c", "behavior": "die"}`, "worker-lost", ""},
		{"chunk breaks the chunk schema", `{"text": "a b c", "behavior": "bad_chunk"}`, "invalid-reply", ""},
		{"deadline mid-stream", `{"text": "a b c", "delay_ms": 3000}`, "deadline-exceeded", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			url := base + "/api/tokens/v1"
			req, _ := http.NewRequest("POST", url, strings.NewReader(body))
			req.Header.Set("Content-Type", jsonCT)
			if tt.problemType == "deadline-exceeded" {
				req.Header.Set("Request-Timeout", "1")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			r := bufio.NewReader(resp.Body)
			if ev := readEvent(t, r); ev.name != "chunk" {
				t.Fatalf("first event = %+v; want a chunk", ev)
			}
			ev := readEvent(t, r)
			if ev.name != "error" {
				t.Fatalf("event = %+v; want an error event", ev)
			}
			var p map[string]any
			if err := json.Unmarshal([]byte(ev.data), &p); err != nil {
				t.Fatal(err)
			}
			if p["type"] != "urn:notebridge:problem:"+tt.problemType || p["request_id"] != resp.Header.Get("X-Request-Id") {
				t.Errorf("problem = %v; want type %s and the request id %s", p, tt.problemType, resp.Header.Get("X-Request-Id"))
			}
			if tt.code != "" && p["code"] != tt.code {
				t.Errorf("code = %v; want %s", p["code"], tt.code)
			}
		})
	}
}

func TestStreamClientDisconnectCancelsTheWorker(t *testing.T) {
	g := newGatewayWith(t, streamContracts(t))
	cancelled := make(chan string, 1)
	g.serve(t, "tokens", []int{1}, refworker.WithCancelled(func(id string) { cancelled <- id }))
	base := g.listen(t)

	req, _ := http.NewRequest("POST", base+"/api/tokens", strings.NewReader(`{"text": "a b c d e f g h", "delay_ms": 300}`))
	req.Header.Set("Content-Type", jsonCT)
	req.Header.Set("X-Request-Id", "leaver-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ev := readEvent(t, bufio.NewReader(resp.Body)); ev.name != "chunk" {
		t.Fatalf("first event = %+v; want a chunk", ev)
	}
	resp.Body.Close() // the client leaves after one token
	select {
	case id := <-cancelled:
		if id != "leaver-1" {
			t.Errorf("worker cancelled %q; want leaver-1", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the worker was never told the client left")
	}
}

func TestStreamAnswersBeforeTheFirstChunk(t *testing.T) {
	g := newGatewayWith(t, streamContracts(t))
	g.serve(t, "tokens", []int{1})
	g.serve(t, "raw", []int{1})
	tests := []struct {
		name, path, body, accept string
		status                   int
		want                     string // body for 200, problem type otherwise
	}{
		{"merged for application/json", "/api/tokens", `{"text": "hello big world"}`, "application/json", 200, `{"text":"hello big world "}`},
		{"no merge, no JSON", "/api/raw", `{"text": "hi"}`, "application/json", 406, "not-acceptable"},
		{"event-stream wins over JSON", "/api/raw", `{"text": "hi"}`, "application/json, text/event-stream", 200, ""},
		{"error before the first chunk", "/api/tokens", `{"text": "a", "behavior": "fail_first"}`, "", 502, "worker-error"},
		{"error after heartbeats, before the first chunk", "/api/tokens", `{"text": "a", "behavior": "fail_first", "delay_ms": 600}`, "", 502, "worker-error"},
		{"invalid request", "/api/tokens", `{"text": 1}`, "", 422, "invalid-request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := g.do(t, "POST", tt.path, tt.body, "Content-Type", jsonCT, "Accept", tt.accept)
			if r.status != tt.status {
				t.Fatalf("got %d; want %d (body %s)", r.status, tt.status, r.body)
			}
			switch {
			case tt.status != 200:
				if p := r.problem(t); p["type"] != "urn:notebridge:problem:"+tt.want {
					t.Errorf("type = %v; want %s", p["type"], tt.want)
				}
			case tt.want != "":
				if string(r.body) != tt.want {
					t.Errorf("body = %s; want %s", r.body, tt.want)
				}
			default:
				if ct := r.header.Get("Content-Type"); ct != "text/event-stream" {
					t.Errorf("Content-Type = %q; want text/event-stream", ct)
				}
			}
		})
	}
	t.Run("no worker", func(t *testing.T) {
		g := newGatewayWith(t, streamContracts(t))
		r := g.do(t, "POST", "/api/tokens", `{"text": "a"}`, "Content-Type", jsonCT)
		if r.status != 503 {
			t.Fatalf("got %d; want 503 (body %s)", r.status, r.body)
		}
	})
}

func TestStreamClientLeavingBeforeItsAnswerCancelsTheWorker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, accept string
		leaveAfter         string // what the worker has sent when the client leaves; "" for nothing
	}{
		{"merged reply, after a chunk", `{"text": "a b c d e f", "delay_ms": 2000}`, jsonCT, wire.StreamChunk},
		{"merged reply, after heartbeats", `{"text": "a", "behavior": "fail_first", "delay_ms": 20000}`, jsonCT, wire.StreamHeartbeat},
		{"events, after heartbeats", `{"text": "a", "behavior": "fail_first", "delay_ms": 20000}`, "", wire.StreamHeartbeat},
		{"merged reply, before the worker said anything", `{"text": "a", "behavior": "fail_first", "delay_ms": 20000}`, jsonCT, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGatewayWith(t, outageContracts(t))
			sent := make(chan string, 64)
			cancelled := make(chan string, 1)
			g.serve(t, "long", []int{1},
				refworker.WithSent(func(kind string) { sent <- kind }),
				refworker.WithCancelled(func(id string) { cancelled <- id }))
			base := g.listen(t)
			requestID := "leaver-" + strings.NewReplacer(" ", "-", ",", "").Replace(tt.name)

			conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			req := fmt.Sprintf("POST /api/long/v1 HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nAccept: %s\r\n"+
				"X-Request-Id: %s\r\nContent-Length: %d\r\n\r\n%s", tt.accept, requestID, len(tt.body), tt.body)
			if _, err := conn.Write([]byte(req)); err != nil {
				t.Fatal(err)
			}
			for tt.leaveAfter != "" {
				if kind := <-sent; kind == tt.leaveAfter {
					break
				}
			}
			conn.Close() // the client leaves, having read nothing
			select {
			case id := <-cancelled:
				if id != requestID {
					t.Errorf("worker cancelled %q; want %s", id, requestID)
				}
			case <-time.After(5 * time.Second): // the worker would go on for 10 s or more
				t.Fatal("the worker was never told the client left")
			}
		})
	}
}
