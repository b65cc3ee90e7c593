// Package redact keeps the credentials of NATS URLs (a token, or a
// password) out of logs, errors and HTTP answers.
package redact

import (
	"net/url"
	"strings"
)

// Mark replaces a credential.
const Mark = "REDACTED"

// URLs returns a comma-separated list of server URLs, as -nats-url takes
// it, with the user info of each replaced by Mark: the token, or the user
// and password. A URL that does not parse becomes Mark entirely, as its
// parse error would show it whole.
func URLs(list string) string {
	parts := strings.Split(list, ",")
	for i, raw := range parts {
		parts[i] = redactURL(strings.TrimSpace(raw))
	}
	return strings.Join(parts, ",")
}

func redactURL(raw string) string {
	if raw == "" {
		return raw
	}
	u, err := parse(raw)
	if err != nil {
		return Mark
	}
	if u.User != nil {
		u.User = url.User(Mark)
	}
	return u.String()
}

// parse reads a server URL the way nats.go does: "host:port" means
// "nats://host:port".
func parse(raw string) (*url.URL, error) {
	if !strings.Contains(raw, "://") {
		raw = "nats://" + raw
	}
	return url.Parse(raw)
}

// Redactor removes the credentials of some URLs from any text, such as an
// error that quotes a URL. The zero value removes nothing.
type Redactor struct {
	secrets []string
}

// New returns a Redactor for the credentials in list, comma-separated URLs
// as -nats-url takes them. A URL that does not parse has its whole user
// info taken as a secret.
func New(list string) Redactor {
	var r Redactor
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		rest := raw
		if i := strings.Index(rest, "://"); i >= 0 {
			rest = rest[i+3:]
		}
		at := strings.LastIndex(rest, "@")
		if at < 0 {
			continue
		}
		userinfo := rest[:at] // as written, perhaps percent-encoded
		r.add(userinfo)
		if u, err := parse(raw); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok {
				r.add(pw) // the user name is not a secret, the password is
			} else {
				r.add(u.User.Username()) // a token
			}
		} else if _, pw, ok := strings.Cut(userinfo, ":"); ok {
			r.add(pw)
		}
	}
	return r
}

func (r *Redactor) add(secret string) {
	if secret != "" {
		r.secrets = append(r.secrets, secret)
	}
}

// String returns s with every secret replaced by Mark.
func (r Redactor) String(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, Mark)
	}
	return s
}

// Error returns err with every secret replaced by Mark in its text, or
// err itself when it holds none; errors.Is still sees what err wraps.
func (r Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := r.String(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redacted{msg: msg, err: err}
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }
