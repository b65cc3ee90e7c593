package contracts

import (
	"regexp"
	"strings"
	"unicode"
)

// pattern checks a pattern or patternProperties key: it must compile in
// Go's regexp, which the gateway runs, and mean the same in RE2, which the
// workers run. Go's syntax is RE2's but for \p: Go 1.25 added the names
// Cn, LC, ASCII and Assigned, long names such as \p{Letter}, and
// case-insensitive lookup, none of which RE2 knows. (RE2's \C, any byte,
// Go refuses by itself; the Python loader refuses it too.)
func (w *portableWalk) pattern(pattern, at string) {
	if _, err := regexp.Compile(pattern); err != nil {
		w.refuse(at, "not RE2: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		return
	}
	if name, ok := unknownClass(pattern); !ok {
		w.refuse(at, `not RE2: \p{%s}: RE2 knows \p{Any}, the general categories by their short names (\p{L}, \p{Lu}, \p{Nd}) `+
			`and the scripts by their names (\p{Greek}, \p{Han}), with exact case`, name)
	}
}

// re2Categories are the general categories RE2 names (re2/unicode_groups.cc).
var re2Categories = keywordSet("C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn",
	"N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So", "Z", "Zl", "Zp", "Zs")

// re2UnicodeVersion is the Unicode version of RE2's tables in the
// google-re2 release the worker pins. Go's scripts and categories are
// those of unicode.Version; re2_test.go fails when the two part.
const re2UnicodeVersion = "15.0.0"

// unknownClass finds the first \p or \P class name in a pattern that RE2
// does not know, and reports false with it.
func unknownClass(pattern string) (string, bool) {
	for i := 0; i < len(pattern); i++ {
		if pattern[i] != '\\' || i+1 >= len(pattern) {
			continue
		}
		// The escaped character is skipped unless it starts a class, or
		// \Q...\E, which is literal text.
		i++
		if pattern[i] == 'Q' {
			end := strings.Index(pattern[i:], `\E`)
			if end < 0 {
				break
			}
			i += end + 1
			continue
		}
		if c := pattern[i]; c != 'p' && c != 'P' || i+1 >= len(pattern) {
			continue
		}
		name := pattern[i+1 : i+2]
		if name == "{" {
			end := strings.IndexByte(pattern[i+1:], '}')
			if end < 0 {
				return pattern[i+1:], false // Go would not have compiled it
			}
			name = pattern[i+2 : i+1+end]
			i += end + 1
		} else {
			i++
		}
		if !re2Class(strings.TrimPrefix(name, "^")) {
			return name, false
		}
	}
	return "", true
}

func re2Class(name string) bool {
	if name == "Any" || re2Categories[name] {
		return true
	}
	_, script := unicode.Scripts[name]
	return script
}
