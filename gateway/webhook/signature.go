package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// HeaderSignature is the header that carries a callback's signature:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>".
const HeaderSignature = "Notebridge-Signature"

// Errors of VerifySignature; each is wrapped with the detail.
var (
	// ErrNoSignature is returned when the header is empty.
	ErrNoSignature = errors.New("webhook: no signature")
	// ErrMalformedSignature is returned when the header has no timestamp
	// or no v1 signature.
	ErrMalformedSignature = errors.New("webhook: malformed signature header")
	// ErrSignatureMismatch is returned when no v1 signature matches the
	// body and the secret: the body was changed, or the secret differs.
	ErrSignatureMismatch = errors.New("webhook: signature does not match")
	// ErrStaleSignature is returned when the timestamp is further from now
	// than the tolerance: possibly a replay.
	ErrStaleSignature = errors.New("webhook: signature timestamp outside the tolerance")
)

// Sign returns the HeaderSignature value of body, signed with secret at t.
func Sign(secret string, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// VerifySignature checks a HeaderSignature value against the raw body the
// receiver read and the shared secret. The header may carry several v1
// signatures (while a secret is rotated); one matching is enough. A
// positive tolerance rejects timestamps further than it from now, which
// stops replays of old callbacks; 0 skips that check.
func VerifySignature(secret, header string, body []byte, tolerance time.Duration) error {
	if header == "" {
		return ErrNoSignature
	}
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%w: %q", ErrMalformedSignature, header)
	}
	want := []byte(mac(secret, ts, body))
	matched := false
	for _, sig := range sigs {
		if hmac.Equal([]byte(sig), want) {
			matched = true
		}
	}
	if !matched {
		return ErrSignatureMismatch
	}
	if age := time.Since(time.Unix(unix, 0)); tolerance > 0 && (age > tolerance || age < -tolerance) {
		return fmt.Errorf("%w: signed %s ago, tolerance %s", ErrStaleSignature, age.Round(time.Second), tolerance)
	}
	return nil
}
