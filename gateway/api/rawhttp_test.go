package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
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

// TestExpectContinueOverLimit: a client that asks before sending (curl's
// Expect: 100-continue) gets the 413 at once, without a 100 Continue that
// would make it send the body.
func TestExpectContinueOverLimit(t *testing.T) {
	g := newGateway(t)
	base := addr(g.listen(t))
	conn, err := net.Dial("tcp", base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	head := "POST /api/echo/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := readResponse(t, resp)
	if r.status != 413 {
		t.Fatalf("got %d; want 413 before any body", r.status)
	}
	if p := r.problem(t); p["type"] != "urn:notebridge:problem:body-too-large" {
		t.Errorf("type = %v; want body-too-large", p["type"])
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

// TestAmbiguousFraming: every head that a proxy in front could frame
// otherwise than the gateway is refused with 400 before its body is read,
// and the connection closes, so nothing after it is taken for a request.
func TestAmbiguousFraming(t *testing.T) {
	g := newGateway(t)
	g.serveEcho(t, []int{1})
	base := addr(g.listen(t))
	const body = `{"text":"hi"}` // 13 bytes, 0xd
	const start = "POST /api/echo/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	// smuggled is a second request hidden where a lax reading ends the first.
	const smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct {
		name, head, body string
		status           int
		detail           string
	}{
		{"plain", "Content-Length: 13\r\n", body, 200, ""},
		{"chunked", "Transfer-Encoding: chunked\r\n", "d\r\n" + body + "\r\n0\r\n\r\n", 200, ""},
		{"chunked in capitals", "Transfer-Encoding: CHUNKED\r\n", "d\r\n" + body + "\r\n0\r\n\r\n", 200, ""},
		{"spaces around the length", "Content-Length:   13  \r\n", body, 200, ""},

		// A proxy that takes the first length forwards one request; fasthttp
		// took the last and answered the smuggled one too.
		{"two differing lengths", "Content-Length: " + strconv.Itoa(len(body+smuggled)) + "\r\nContent-Length: 13\r\n", body + smuggled, 400, "Content-Length"},
		{"chunked smuggling", "Transfer-Encoding: chunked\r\nContent-Length: " + strconv.Itoa(len("0\r\n\r\n"+smuggled)) + "\r\n", "0\r\n\r\n" + smuggled, 400, "together"},
		{"two equal lengths", "Content-Length: 13\r\nContent-Length: 13\r\n", body, 400, "Content-Length"},
		{"length with a plus", "Content-Length: +13\r\n", body, 400, "Content-Length"},
		{"length with a space inside", "Content-Length: 1 3\r\n", body, 400, "Content-Length"},
		{"length as a list", "Content-Length: 13, 13\r\n", body, 400, "Content-Length"},
		{"length in hex", "Content-Length: 0xd\r\n", body, 400, "Content-Length"},
		{"space before the colon", "Content-Length : 13\r\n", body, 400, "header"},
		{"xchunked", "Transfer-Encoding: xchunked\r\n", "d\r\n" + body + "\r\n0\r\n\r\n", 400, "Transfer-Encoding"},
		{"chunked, chunked", "Transfer-Encoding: chunked, chunked\r\n", "d\r\n" + body + "\r\n0\r\n\r\n", 400, "Transfer-Encoding"},
		{"gzip, chunked", "Transfer-Encoding: gzip, chunked\r\n", "d\r\n" + body + "\r\n0\r\n\r\n", 400, "Transfer-Encoding"},
		{"two transfer encodings", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", "d\r\n" + body + "\r\n0\r\n\r\n", 400, "Transfer-Encoding"},
		{"identity", "Transfer-Encoding: identity\r\nContent-Length: 13\r\n", body, 400, "Transfer-Encoding"},
		{"chunked and a length", "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", "d\r\n" + body + "\r\n0\r\n\r\n", 400, "together"},
		{"length and chunked", "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", "d\r\n" + body + "\r\n0\r\n\r\n", 400, "together"},
		{"chunked with a tab", "Transfer-Encoding:\tchunked\r\nContent-Length: 13\r\n", body, 400, "together"},
		{"folded transfer encoding", "X-A: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 13\r\n", body, 400, ""},
		{"folded value", "X-A: a\r\n b\r\nContent-Length: 13\r\n", body, 400, "folding"},
		{"bare LF", "X-A: a\nTransfer-Encoding: chunked\r\nContent-Length: 13\r\n", body, 400, "CRLF"},
		{"bare CR", "X-A: a\rTransfer-Encoding: chunked\r\nContent-Length: 13\r\n", body, 400, "CRLF"},
		{"NUL in a value", "X-A: a\x00b\r\nContent-Length: 13\r\n", body, 400, "NUL"},
		{"vertical tab in a name", "Transfer-Encoding\x0b: chunked\r\nContent-Length: 13\r\n", body, 400, ""},
		{"two hosts", "Host: y\r\nContent-Length: 13\r\n", body, 400, "Host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := rawDo(t, base, start+tt.head+"X-Request-Id: frame-1\r\n\r\n", []byte(tt.body))
			if x.resp.status != tt.status {
				t.Fatalf("got %d; want %d (body %s)", x.resp.status, tt.status, x.resp.body)
			}
			if tt.status == 200 {
				return
			}
			p := x.resp.problem(t)
			if p["type"] != "urn:notebridge:problem:malformed-request" || !strings.Contains(p["detail"].(string), tt.detail) {
				t.Errorf("type %v, detail %q; want malformed-request naming %q", p["type"], p["detail"], tt.detail)
			}
			if p["request_id"] != "frame-1" && !strings.Contains(p["detail"].(string), "error when reading request headers") {
				t.Errorf("request_id = %v; want frame-1", p["request_id"])
			}
			if x.resp.header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
			if !x.closed || len(x.rest) > 0 || x.endErr != nil {
				t.Errorf("closed: %v, after the 400: %q, %v; want the connection closed cleanly, nothing else answered", x.closed, x.rest, x.endErr)
			}
		})
	}
}

// TestAmbiguousFramingIsLogged: a refused head has its access log line,
// like every request.
func TestAmbiguousFramingIsLogged(t *testing.T) {
	g := newGateway(t)
	var out lockedBuffer
	g.app = newAppLogging(t, g, &out)
	base := addr(g.listen(t))
	x := rawDo(t, base, "POST /api/echo/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: xchunked\r\nX-Request-Id: log-te\r\n\r\n", []byte("0\r\n\r\n"))
	if x.resp.status != 400 {
		t.Fatalf("got %d; want 400", x.resp.status)
	}
	var line map[string]any
	if err := json.Unmarshal(out.take(), &line); err != nil {
		t.Fatalf("want one JSON log line: %v", err)
	}
	if line["request_id"] != "log-te" || line["status"] != float64(400) {
		t.Errorf("log line %v; want request_id log-te, status 400", line)
	}
}
