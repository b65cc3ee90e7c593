package api

import (
	"errors"
	"testing"
)

// BenchmarkCheckHead is the cost checkHead adds to a request, twice over
// (headGuard, then HeadCheck): a head such as Python's requests sends.
func BenchmarkCheckHead(b *testing.B) {
	raw := []byte("Host: 127.0.0.1:8080\r\nUser-Agent: python-requests/2.32.3\r\nAccept-Encoding: gzip, deflate\r\n" +
		"Accept: */*\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: 27\r\n" +
		"X-Request-Id: 8gYkPq6ZcW5HfNqzNvJ3Qe\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n")
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if n, err := checkHead(raw, true); n != 27 || err != nil {
			b.Fatalf("got %d, %v; want 27, nil", n, err)
		}
	}
}

// TestCheckHead pins what the socket tests (TestAmbiguousFraming) cannot
// reach through fasthttp: the length returned, and HTTP/1.0.
func TestCheckHead(t *testing.T) {
	tests := []struct {
		name, raw string
		http11    bool
		length    int64
		err       error
	}{
		{"no headers", "", true, -1, nil},
		{"only the empty line", "\r\n", true, -1, nil},
		{"a length", "Host: x\r\ncontent-length: 007\r\n\r\n", true, 7, nil},
		{"chunked", "Host: x\r\nTransfer-Encoding: chunked\r\n\r\n", true, -1, nil},
		{"chunked on HTTP/1.0", "Host: x\r\nTransfer-Encoding: chunked\r\n\r\n", false, 0, errHTTP10Chunked},
		{"a length on HTTP/1.0", "Content-Length: 2\r\n\r\n", false, 2, nil},
		{"a length too long", "Content-Length: 1234567890123456789\r\n\r\n", true, 0, errContentLength},
		{"an empty length", "Content-Length: \r\n\r\n", true, 0, errContentLength},
		{"an empty name", ": x\r\n\r\n", true, 0, errFieldName},
		{"no colon", "Host\r\n\r\n", true, 0, errFieldName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := checkHead([]byte(tt.raw), tt.http11)
			if !errors.Is(err, tt.err) || (err == nil && n != tt.length) {
				t.Errorf("got %d, %v; want %d, %v", n, err, tt.length, tt.err)
			}
			if err != nil && !errors.Is(err, ErrMalformedHead) {
				t.Errorf("%v does not wrap ErrMalformedHead", err)
			}
		})
	}
}
