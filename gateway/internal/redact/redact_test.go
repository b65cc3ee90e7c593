package redact

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestURLs(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://s3cr3t-token@nats.example.com:4222", "nats://REDACTED@nats.example.com:4222"},
		{"nats://alice:s3cret@nats.example.com", "nats://REDACTED@nats.example.com"},
		{"tok3n@nats-1:4222, nats://bob:pw@nats-2:4222", "nats://REDACTED@nats-1:4222,nats://REDACTED@nats-2:4222"},
		{"nats://alice:s3 cret@host:port", "REDACTED"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := URLs(tt.in); got != tt.want {
				t.Errorf("URLs(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactorRemovesEveryFormOfTheSecrets(t *testing.T) {
	tests := []struct {
		name, urls, text string
		secrets          []string
	}{
		{"token", "nats://s3cr3t-token@127.0.0.1:4222", "connect to nats://s3cr3t-token@127.0.0.1:4222 failed", []string{"s3cr3t-token"}},
		{"password", "nats://alice:hunter22@127.0.0.1:4222", `parse "nats://alice:hunter22@127.0.0.1:4222": no`, []string{"hunter22"}},
		{"percent-encoded password", "nats://alice:p%40ss-word@h:4222", "user info alice:p%40ss-word, password p@ss-word", []string{"p%40ss-word", "p@ss-word"}},
		{"unparsable", "nats://alice:s3 cret@host:port", `parse "nats://alice:s3 cret@host:port": invalid port`, []string{"s3 cret"}},
		{"second of two", "nats://a:4222,nats://tok-2@b:4222", "b said tok-2", []string{"tok-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(tt.urls)
			got := r.String(tt.text)
			for _, s := range tt.secrets {
				if strings.Contains(got, s) {
					t.Errorf("String(%q) = %q; still holds %q", tt.text, got, s)
				}
			}
			if !strings.Contains(got, Mark) {
				t.Errorf("String(%q) = %q; want %s in place of the secret", tt.text, got, Mark)
			}
		})
	}
}

func TestRedactorError(t *testing.T) {
	r := New("nats://tok3n@127.0.0.1:4222")
	_, perr := url.Parse("nats://tok3n@127.0.0.1:port")
	err := r.Error(perr)
	if strings.Contains(err.Error(), "tok3n") {
		t.Errorf("Error() = %q; still holds the token", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("errors.As(%v, *url.Error) = false; want the parse error still inside", err)
	}
	plain := errors.New("nothing secret")
	if got := r.Error(plain); got != plain {
		t.Errorf("Error(%v) = %v; want the same error", plain, got)
	}
	if r.Error(nil) != nil {
		t.Error("Error(nil) != nil")
	}
}
