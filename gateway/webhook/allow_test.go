package webhook_test

import (
	"errors"
	"net/url"
	"testing"

	"github.com/notebridge/notebridge/gateway/webhook"
)

func TestAllowList(t *testing.T) {
	l, err := webhook.ParseAllowList(" hooks.example.com, 127.0.0.1:9000,[::1]:8443 ,")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url  string
		want bool
	}{
		{"https://hooks.example.com/x", true},
		{"http://HOOKS.example.com:8080/x", true},
		{"http://127.0.0.1:9000/hook", true},
		{"http://127.0.0.1:9001/hook", false},
		{"http://127.0.0.1/hook", false},
		{"https://[::1]:8443/", true},
		{"https://evil.example.com/", false},
		{"https://hooks.example.com.evil.net/", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if got := l.Allows(u); got != tt.want {
				t.Errorf("got %v; want %v", got, tt.want)
			}
		})
	}
}

func TestParseAllowListRejects(t *testing.T) {
	for _, s := range []string{"http://x.com", "x.com/path", "*.example.com", "user@x.com", ":80"} {
		t.Run(s, func(t *testing.T) {
			if _, err := webhook.ParseAllowList(s); !errors.Is(err, webhook.ErrBadAllowEntry) {
				t.Errorf("got %v; want ErrBadAllowEntry", err)
			}
		})
	}
	l, err := webhook.ParseAllowList("")
	if err != nil || !l.Empty() {
		t.Errorf("empty list: got %v, empty %v; want no error, empty", err, l.Empty())
	}
}
