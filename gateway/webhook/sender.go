package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// ErrDeliveryFailed is wrapped by Sender.Send when no attempt got a 2xx.
var ErrDeliveryFailed = errors.New("webhook: delivery failed")

// HeaderAttempt numbers the attempts at one delivery, from 1.
const HeaderAttempt = "Notebridge-Delivery-Attempt"

// Defaults of Sender.
const (
	DefaultAttempts   = 6
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = time.Minute
	// DefaultTimeout bounds one attempt, from connect to response headers.
	DefaultTimeout = 10 * time.Second
)

// Sender POSTs signed callbacks: a fresh signature on every attempt, and
// exponential backoff between attempts (Backoff, twice that, ... capped at
// MaxBackoff). Any 2xx ends the delivery; anything else, a redirect
// included (it could lead off the allow-list), is a failed attempt.
type Sender struct {
	// Secret signs every callback (HeaderSignature).
	Secret string
	// Attempts bounds the attempts at one delivery; 0 means DefaultAttempts.
	Attempts int
	// Backoff is the wait after the first failed attempt; 0 means
	// DefaultBackoff.
	Backoff time.Duration
	// MaxBackoff caps the wait between attempts; 0 means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Client sends the requests; nil means one with DefaultTimeout that
	// follows no redirect.
	Client *http.Client
}

// Send POSTs body to url as application/json with the extra headers, until
// an attempt gets a 2xx, the attempts run out (ErrDeliveryFailed, wrapping
// the last outcome) or ctx ends. It calls keepAlive, when not nil, before
// every attempt and wait, so that a caller holding a lease can renew it.
// It returns how many attempts it made.
func (s *Sender) Send(ctx context.Context, url string, body []byte, header http.Header, keepAlive func()) (int, error) {
	attempts, wait, maxWait := s.Attempts, s.Backoff, s.MaxBackoff
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	if wait <= 0 {
		wait = DefaultBackoff
	}
	if maxWait <= 0 {
		maxWait = DefaultMaxBackoff
	}
	client := s.Client
	if client == nil {
		client = &http.Client{
			Timeout:       DefaultTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	var last error
	for n := 1; n <= attempts; n++ {
		if keepAlive != nil {
			keepAlive()
		}
		if last = s.attempt(ctx, client, url, body, header, n); last == nil {
			return n, nil
		}
		if n == attempts {
			break
		}
		if keepAlive != nil {
			keepAlive()
		}
		select {
		case <-ctx.Done():
			return n, fmt.Errorf("%w after %d attempt(s): %w (last: %w)", ErrDeliveryFailed, n, ctx.Err(), last)
		case <-time.After(wait):
		}
		wait = min(2*wait, maxWait)
	}
	return attempts, fmt.Errorf("%w after %d attempt(s): %w", ErrDeliveryFailed, attempts, last)
}

func (s *Sender) attempt(ctx context.Context, client *http.Client, url string, body []byte, header http.Header, n int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "notebridge-webhook")
	req.Header.Set(HeaderAttempt, strconv.Itoa(n))
	req.Header.Set(HeaderSignature, Sign(s.Secret, body, time.Now()))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}
