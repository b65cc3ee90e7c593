package contracts

import (
	"testing"
	"unicode"
)

func TestUnknownClass(t *testing.T) {
	tests := []struct {
		pattern string
		unknown string // "" when RE2 knows every class
	}{
		{`^\p{L}+$`, ""},
		{`\pL\PN`, ""},
		{`[\p{Lu}\p{Han}\P{Greek}]`, ""},
		{`\p{^Greek}\p{Any}`, ""},
		{`\\p{Letter}`, ""},         // an escaped backslash, then text
		{`\Q\p{Letter}\E\p{L}`, ""}, // quoted text
		{`\p{Letter}`, "Letter"},
		{`\p{greek}`, "greek"},
		{`[a\P{Cn}]`, "Cn"},
		{`\p{LC}`, "LC"},
		{`\p{^ASCII}`, "^ASCII"},
		{`\p{L}\p{Assigned}`, "Assigned"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			name, ok := unknownClass(tt.pattern)
			if ok != (tt.unknown == "") || name != tt.unknown {
				t.Errorf("unknownClass(%q) = %q, %v; want %q", tt.pattern, name, ok, tt.unknown)
			}
		})
	}
}

// TestUnicodeVersionIsRE2s: the scripts the loader lets through are Go's;
// they are RE2's only while both have the same Unicode tables. A Go release
// with newer tables fails here: check which script names google-re2 (as
// pinned in python-worker/constraints.txt) knows, and refuse the others.
func TestUnicodeVersionIsRE2s(t *testing.T) {
	if unicode.Version != re2UnicodeVersion {
		t.Fatalf("Go's Unicode tables are %s; RE2's are %s", unicode.Version, re2UnicodeVersion)
	}
}
