package main

import (
	"flag"

	"github.com/notebridge/notebridge/gateway/internal/redact"
)

// secretFlag is a string flag that -h shows redacted: its default may come
// from the environment, and -h output lands in terminals and CI logs.
type secretFlag struct {
	p    *string
	show func(string) string
}

func (f *secretFlag) String() string {
	if f == nil || f.p == nil || *f.p == "" {
		return ""
	}
	return f.show(*f.p)
}

func (f *secretFlag) Set(s string) error {
	*f.p = s
	return nil
}

// secretVar defines a flag whose value is a secret, such as a password.
func secretVar(fs *flag.FlagSet, p *string, name, value, usage string) {
	*p = value
	fs.Var(&secretFlag{p: p, show: func(string) string { return redact.Mark }}, name, usage)
}

// urlsVar defines a flag of NATS URLs, which -h shows without their
// credentials.
func urlsVar(fs *flag.FlagSet, p *string, name, value, usage string) {
	*p = value
	fs.Var(&secretFlag{p: p, show: redact.URLs}, name, usage)
}
