package api_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawExchange is what a client that speaks HTTP/1.1 by hand observes: the
// first response, and how the connection ended after it.
type rawExchange struct {
	resp    response
	writeOK bool   // the whole request was written
	closed  bool   // the response said Connection: close
	rest    []byte // what came after the first response, when closed
	endErr  error  // nil for a clean EOF; a reset otherwise
}

// rawDo writes head and then body on a new connection to addr, all of it,
// before reading anything, as Python's urllib does; then reads one
// response and the connection to its end.
func rawDo(t *testing.T, addr, head string, body []byte) rawExchange {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var x rawExchange
	_, err = io.WriteString(conn, head)
	if err == nil && len(body) > 0 {
		_, err = conn.Write(body)
	}
	x.writeOK = err == nil
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response (whole request written: %v): %v", x.writeOK, err)
	}
	x.closed = resp.Close
	x.resp = readResponse(t, resp)
	if x.closed {
		x.rest, x.endErr = io.ReadAll(br)
	}
	return x
}

// addr is the host:port of a base URL.
func addr(base string) string { return strings.TrimPrefix(base, "http://") }

// TestBodyOverLimitAfterWholeBody: a client that writes a whole 2 MiB body
// before it reads (Python's urllib, requests) reads the 413, then a clean
// end of connection, not a reset.
func TestBodyOverLimitAfterWholeBody(t *testing.T) {
	g := newGatewayLimits(t, 0, 0) // the default 1 MiB body limit
	g.serveEcho(t, []int{1})
	base := addr(g.listen(t))
	body := bytes.Repeat([]byte("a"), 2<<20)
	tests := []struct {
		name, head string
		body       []byte
	}{
		{"content-length", "POST /api/echo/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2097152\r\nX-Request-Id: big-cl\r\n\r\n", body},
		{"chunked", "POST /api/echo/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nX-Request-Id: big-chunked\r\n\r\n",
			append(append([]byte("200000\r\n"), body...), "\r\n0\r\n\r\n"...)},
		{"keep-alive then big", "POST /api/echo/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2097152\r\nConnection: keep-alive\r\nX-Request-Id: big-ka\r\n\r\n", body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := rawDo(t, base, tt.head, tt.body)
			if x.resp.status != 413 {
				t.Fatalf("got %d; want 413 (body %s)", x.resp.status, x.resp.body)
			}
			p := x.resp.problem(t)
			if p["type"] != "urn:notebridge:problem:body-too-large" || x.resp.header.Get("X-Request-Id") == "" {
				t.Errorf("type %v, X-Request-Id %q; want body-too-large and an id", p["type"], x.resp.header.Get("X-Request-Id"))
			}
			if !x.writeOK || !x.closed || x.endErr != nil || len(x.rest) > 0 {
				t.Errorf("whole request written: %v, closed: %v, after the response: %q, %v; want the whole request written, then a clean EOF", x.writeOK, x.closed, x.rest, x.endErr)
			}
		})
	}
}

// TestHeadersOverLimit: a head over -header-limit is a 431 problem, which
// the client reads even when it sent a body after it.
func TestHeadersOverLimit(t *testing.T) {
	g := newGatewayLimits(t, 0, 2048)
	g.serveEcho(t, []int{1})
	base := addr(g.listen(t))
	fits := "POST /api/echo/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 13\r\nX-Pad: " + strings.Repeat("a", 1500) + "\r\n\r\n"
	if x := rawDo(t, base, fits, []byte(`{"text":"a"}`+" ")); x.resp.status != 200 {
		t.Fatalf("a 1.6 KB head: got %d; want 200 (body %s)", x.resp.status, x.resp.body)
	}
	over := "POST /api/echo/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 65536\r\nX-Pad: " + strings.Repeat("a", 3000) + "\r\n\r\n"
	x := rawDo(t, base, over, bytes.Repeat([]byte(" "), 65536))
	if x.resp.status != 431 {
		t.Fatalf("a 3 KB head: got %d; want 431 (body %s)", x.resp.status, x.resp.body)
	}
	p := x.resp.problem(t)
	if p["type"] != "urn:notebridge:problem:headers-too-large" || !strings.Contains(p["detail"].(string), "2048 bytes") || x.resp.header.Get("X-Request-Id") == "" {
		t.Errorf("problem %v, X-Request-Id %q; want headers-too-large naming 2048 bytes, and an id", p, x.resp.header.Get("X-Request-Id"))
	}
	if !x.writeOK || !x.closed || x.endErr != nil {
		t.Errorf("whole request written: %v, closed: %v, end: %v; want it written, then a clean EOF", x.writeOK, x.closed, x.endErr)
	}
}
