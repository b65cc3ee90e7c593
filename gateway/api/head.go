package api

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// ErrMalformedHead is wrapped by every reason checkHead refuses a request
// head for.
var ErrMalformedHead = errors.New("the request head is malformed or ambiguous")

// The reasons a head is refused. Each is a way for the gateway and a proxy
// in front of it to disagree on where a request ends (request smuggling),
// which fasthttp would otherwise settle silently: the last Content-Length
// wins, any Transfer-Encoding but "identity" means chunked.
var (
	errLineEnd        = fmt.Errorf("%w: a header line does not end in CRLF (bare CR or LF)", ErrMalformedHead)
	errObsFold        = fmt.Errorf("%w: a header line starts with a space or tab (obsolete line folding)", ErrMalformedHead)
	errFieldName      = fmt.Errorf("%w: a header name is empty or not a token", ErrMalformedHead)
	errFieldValue     = fmt.Errorf("%w: a header value holds a NUL", ErrMalformedHead)
	errContentLength  = fmt.Errorf("%w: Content-Length must be one number of bytes, digits only", ErrMalformedHead)
	errTransferCoding = fmt.Errorf("%w: Transfer-Encoding must be exactly chunked, in one header", ErrMalformedHead)
	errBothFramings   = fmt.Errorf("%w: Transfer-Encoding and Content-Length together", ErrMalformedHead)
	errHTTP10Chunked  = fmt.Errorf("%w: Transfer-Encoding on an HTTP/1.0 request", ErrMalformedHead)
	errHost           = fmt.Errorf("%w: more than one Host header", ErrMalformedHead)
)

// maxContentLengthDigits keeps a Content-Length inside an int64.
const maxContentLengthDigits = 18

// checkHead reads the header block of a request as it came off the wire
// (the lines after the request line, through the empty line) and returns
// the body length it declares: -1 for none or chunked. It refuses, with an
// error wrapping ErrMalformedHead, what RFC 9112 lets a server refuse and
// a proxy might read otherwise: lines not ending in CRLF, obs-fold, names
// that are not tokens, NUL in values, a Content-Length that is not one
// plain number, a Transfer-Encoding other than one "chunked", both at
// once, and a repeated Host.
func checkHead(raw []byte, http11 bool) (int64, error) {
	contentLength := int64(-1)
	var lengths, codings, hosts int
	for len(raw) > 0 {
		end := bytes.IndexByte(raw, '\n')
		if end < 1 || raw[end-1] != '\r' {
			return 0, errLineEnd
		}
		line := raw[:end-1]
		raw = raw[end+1:]
		if len(line) == 0 { // the empty line that ends the head
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return 0, errObsFold
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 1 || !isToken(line[:colon]) {
			return 0, errFieldName
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		// RFC 9110 lets other controls through "for the sake of robustness";
		// CR and NUL must go.
		if bytes.IndexByte(value, '\r') >= 0 {
			return 0, errLineEnd
		}
		if bytes.IndexByte(value, 0) >= 0 {
			return 0, errFieldValue
		}
		switch len(name) { // the length first: most names are none of these
		case len(fiber.HeaderContentLength):
			if !bytes.EqualFold(name, []byte(fiber.HeaderContentLength)) {
				continue
			}
			lengths++
			n, ok := parseDigits(value)
			if !ok || lengths > 1 {
				return 0, errContentLength
			}
			contentLength = n
		case len(fiber.HeaderTransferEncoding):
			if !bytes.EqualFold(name, []byte(fiber.HeaderTransferEncoding)) {
				continue
			}
			codings++
			if codings > 1 || !bytes.EqualFold(value, []byte("chunked")) {
				return 0, errTransferCoding
			}
		case len(fiber.HeaderHost):
			if !bytes.EqualFold(name, []byte(fiber.HeaderHost)) {
				continue
			}
			hosts++
			if hosts > 1 {
				return 0, errHost
			}
		}
	}
	switch {
	case codings > 0 && lengths > 0:
		return 0, errBothFramings
	case codings > 0 && !http11:
		return 0, errHTTP10Chunked
	case codings > 0:
		return -1, nil
	}
	return contentLength, nil
}

// parseDigits reads 1 to maxContentLengthDigits ASCII digits.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > maxContentLengthDigits {
		return 0, false
	}
	var n int64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + int64(ch-'0')
	}
	return n, true
}

// trimOWS removes the optional whitespace (spaces and tabs) around a field
// value.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// isToken reports whether b is an RFC 9110 token, the syntax of a field name.
func isToken(b []byte) bool {
	for _, ch := range b {
		if !tokenChars[ch] {
			return false
		}
	}
	return true
}

// tokenChars are the bytes of an RFC 9110 token (tchar).
var tokenChars = func() (t [256]bool) {
	for ch := '0'; ch <= '9'; ch++ {
		t[ch] = true
	}
	for ch := 'a'; ch <= 'z'; ch++ {
		t[ch], t[ch-'a'+'A'] = true, true
	}
	for _, ch := range "!#$%&'*+-.^_`|~" {
		t[ch] = true
	}
	return t
}()

// headProblem is what the gateway answers a request's head with before it
// reads the body, or nil: 400 for a malformed or ambiguous head, 413 for a
// declared body over the limit (answered at once, even to a client that
// sent Expect: 100-continue, which then need not send the body at all).
func headProblem(h *fasthttp.RequestHeader, bodyLimit int) *Problem {
	n, err := checkHead(h.RawHeaders(), h.IsHTTP11())
	switch {
	case err != nil:
		return malformedRequest(err)
	case n > int64(bodyLimit):
		return bodyTooLarge(bodyLimit)
	}
	return nil
}

// headGuard runs between fasthttp's parse of a request's head and its read
// of the body (Server.HeaderReceived): a head that headProblem refuses gets
// its body skipped, no 100 Continue, and its connection closed after the
// answer (LingeringListener drains what the client still sends). The
// answer itself comes from HeadCheck, first in the middleware chain, so it
// has a request id, an access log line and problem+json like every other.
// Reading no byte of a body whose framing is in doubt is the point: none of
// it can then be taken for the next request on the connection.
func headGuard(bodyLimit int) func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
	return func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
		if headProblem(h, bodyLimit) != nil {
			h.SetContentLength(0)
			h.Del(fiber.HeaderExpect)
			h.SetConnectionClose()
		}
		return fasthttp.RequestConfig{}
	}
}

// HeadCheck is the middleware that answers a request whose head headGuard
// refused. It judges the head again from the raw bytes, which headGuard
// leaves as they were, rather than passing a verdict through the request;
// headGuard closes the connection of every head it refuses, so a head on
// a connection kept alive needs no second look.
func HeadCheck(bodyLimit int) fiber.Handler {
	return func(c *fiber.Ctx) error {
		h := &c.Request().Header
		if !h.ConnectionClose() {
			return c.Next()
		}
		if p := headProblem(h, bodyLimit); p != nil {
			return p
		}
		return c.Next()
	}
}
