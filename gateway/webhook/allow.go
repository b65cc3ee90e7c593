package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
)

// ErrBadAllowEntry is wrapped by ParseAllowList for an entry that is not
// host or host:port.
var ErrBadAllowEntry = errors.New("webhook: bad allow-list entry")

// AllowList says which hosts callbacks may go to. The zero AllowList
// allows nothing.
type AllowList struct {
	hosts map[string]bool // "host" (any port) or "host:port", lower case
}

// ParseAllowList reads a comma-separated list of host or host:port
// entries ("hooks.example.com,127.0.0.1:9000,[::1]:8443"). A host alone
// allows every port of it; host:port only that port. Names are compared
// without regard to case; no wildcard is understood.
func ParseAllowList(s string) (AllowList, error) {
	l := AllowList{hosts: map[string]bool{}}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.ToLower(strings.TrimSpace(entry))
		if entry == "" {
			continue
		}
		if strings.ContainsAny(entry, "/@?#* ") {
			return AllowList{}, fmt.Errorf("%w %q: want host or host:port", ErrBadAllowEntry, entry)
		}
		if host, port, err := net.SplitHostPort(entry); err == nil {
			if host == "" || port == "" {
				return AllowList{}, fmt.Errorf("%w %q: want host or host:port", ErrBadAllowEntry, entry)
			}
			l.hosts[net.JoinHostPort(host, port)] = true
			continue
		}
		l.hosts[strings.Trim(entry, "[]")] = true
	}
	return l, nil
}

// Empty reports whether the list allows nothing.
func (l AllowList) Empty() bool { return len(l.hosts) == 0 }

// Allows reports whether a callback may go to u.
func (l AllowList) Allows(u *url.URL) bool {
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return l.hosts[host] || l.hosts[net.JoinHostPort(host, port)]
}

// String lists the entries, comma-separated, for logs.
func (l AllowList) String() string {
	var out []string
	for h := range l.hosts {
		out = append(out, h)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
