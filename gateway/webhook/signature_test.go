package webhook_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/notebridge/notebridge/gateway/webhook"
)

func TestVerifySignature(t *testing.T) {
	const secret = "whsec_test"
	body := []byte(`{"id":"j1","status":"succeeded"}`)
	now := time.Now()
	good := webhook.Sign(secret, body, now)
	tests := []struct {
		name      string
		secret    string
		header    string
		body      []byte
		tolerance time.Duration
		want      error
	}{
		{"good", secret, good, body, 5 * time.Minute, nil},
		{"good, no tolerance", secret, webhook.Sign(secret, body, now.Add(-time.Hour)), body, 0, nil},
		{"second v1 matches (secret rotation)", secret, good + ",v1=" + strings.Repeat("0", 64), body, time.Minute, nil},
		{"tampered body", secret, good, []byte(`{"id":"j1","status":"failed"}`), 5 * time.Minute, webhook.ErrSignatureMismatch},
		{"wrong secret", "whsec_other", good, body, 5 * time.Minute, webhook.ErrSignatureMismatch},
		{"stale timestamp", secret, webhook.Sign(secret, body, now.Add(-10*time.Minute)), body, 5 * time.Minute, webhook.ErrStaleSignature},
		{"timestamp from the future", secret, webhook.Sign(secret, body, now.Add(10*time.Minute)), body, 5 * time.Minute, webhook.ErrStaleSignature},
		{"timestamp changed", secret, strings.Replace(good, "t=", "t=1", 1), body, 0, webhook.ErrSignatureMismatch},
		{"no header", secret, "", body, time.Minute, webhook.ErrNoSignature},
		{"no timestamp", secret, good[strings.Index(good, ",")+1:], body, time.Minute, webhook.ErrMalformedSignature},
		{"no v1", secret, good[:strings.Index(good, ",")], body, time.Minute, webhook.ErrMalformedSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhook.VerifySignature(tt.secret, tt.header, tt.body, tt.tolerance)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("got %v; want %v", err, tt.want)
			}
		})
	}
}

func TestSignFormat(t *testing.T) {
	got := webhook.Sign("k", []byte("{}"), time.Unix(1700000000, 0))
	// HMAC-SHA256("k", "1700000000.{}"), as `printf '1700000000.{}' | openssl dgst -sha256 -hmac k` prints it.
	want := "t=1700000000,v1=c6ef4734033cee2367414a0939385eca0397754aa7a59716da7463a9298b5146"
	if got != want {
		t.Errorf("got %s; want %s", got, want)
	}
}
