package api_test

import (
	"strings"
	"testing"

	"github.com/notebridge/notebridge/gateway/api"
)

func TestCORS(t *testing.T) {
	origins, err := api.ParseOrigins("https://shop.example.com, http://127.0.0.1:3000")
	if err != nil {
		t.Fatal(err)
	}
	g := newGatewayConfigured(t, func(cfg *api.Config) { cfg.CORSOrigins = origins })
	g.serveEcho(t, []int{1})

	preflight := []string{"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type,request-timeout"}
	tests := []struct {
		name, method, origin string
		headers              []string
		status               int
		allowed              bool
	}{
		{"preflight from an allowed origin", "OPTIONS", "https://shop.example.com", preflight, 204, true},
		{"preflight from another origin", "OPTIONS", "https://evil.example.com", preflight, 204, false},
		{"a call from an allowed origin", "POST", "http://127.0.0.1:3000", []string{"Content-Type", jsonCT}, 200, true},
		{"a call from another origin", "POST", "https://evil.example.com", []string{"Content-Type", jsonCT}, 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := g.do(t, tt.method, "/api/echo/v1", `{"text": "hi"}`, append([]string{"Origin", tt.origin}, tt.headers...)...)
			if r.status != tt.status {
				t.Fatalf("got %d; want %d (body %s)", r.status, tt.status, r.body)
			}
			allowOrigin := r.header.Get("Access-Control-Allow-Origin")
			if tt.allowed != (allowOrigin == tt.origin) || (!tt.allowed && allowOrigin != "") {
				t.Errorf("Access-Control-Allow-Origin = %q; want it %v for %s", allowOrigin, tt.allowed, tt.origin)
			}
			if !tt.allowed {
				return
			}
			if tt.method == "OPTIONS" {
				for header, want := range map[string]string{
					"Access-Control-Allow-Methods": "POST",
					"Access-Control-Allow-Headers": "Authorization",
					"Access-Control-Max-Age":       "600",
				} {
					if got := r.header.Get(header); !strings.Contains(got, want) {
						t.Errorf("%s = %q; want it to hold %s", header, got, want)
					}
				}
				return
			}
			if got := r.header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "X-Request-Id") {
				t.Errorf("Access-Control-Expose-Headers = %q; want X-Request-Id among them", got)
			}
		})
	}
}

func TestCORSOff(t *testing.T) {
	g := newGateway(t)
	r := g.do(t, "OPTIONS", "/api/echo/v1", "", "Origin", "https://shop.example.com", "Access-Control-Request-Method", "POST")
	if r.status != 405 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a preflight without -cors-origins: got %d, Access-Control-Allow-Origin %q; want 405 and none", r.status, r.header.Get("Access-Control-Allow-Origin"))
	}
}

func TestParseOriginsRefuses(t *testing.T) {
	for _, bad := range []string{"shop.example.com", "https://shop.example.com/path", "ftp://x", "https://user@shop.example.com"} {
		if _, err := api.ParseOrigins(bad); err == nil {
			t.Errorf("ParseOrigins(%q): got no error", bad)
		}
	}
}
