package contracts

import (
	"errors"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// Violation is one way a JSON value breaks a schema.
type Violation struct {
	// InstancePath is the JSON pointer (RFC 6901) of the offending value;
	// "" is the whole document.
	InstancePath string `json:"instancePath"`
	// Keyword is the schema keyword that failed, e.g. "required" or "maxLength".
	Keyword string `json:"keyword"`
	// Message says what is wrong, for a human.
	Message string `json:"message"`
}

// violations flattens a validation error into its leaves: each leaf is one
// distinct thing wrong with the instance, where the first error alone would
// hide the rest. The Python worker lists the same (instancePath, keyword)
// pairs; testdata/conformance.json holds cases both suites check.
func violations(err error) []Violation {
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Violation{{Keyword: "", Message: err.Error()}}
	}
	var out []Violation
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, leaf(e)...)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sortViolations(out)
	return out
}

// sortViolations orders violations by where they are, then by keyword.
func sortViolations(vs []Violation) {
	sort.SliceStable(vs, func(i, j int) bool {
		if vs[i].InstancePath != vs[j].InstancePath {
			return vs[i].InstancePath < vs[j].InstancePath
		}
		return vs[i].Keyword < vs[j].Keyword
	})
}

// leaf turns one of v5's leaf errors into violations: one, or one per
// missing property where v5 names them all in one message.
func leaf(e *jsonschema.ValidationError) []Violation {
	// v5 writes pointers with each token URL-escaped ("/foo%22bar").
	path, err := url.PathUnescape(e.InstanceLocation)
	if err != nil {
		path = e.InstanceLocation
	}
	keyword := keywordOf(e.KeywordLocation)
	switch {
	case e.Message == falseSchemaMessage:
		// The location of a false schema ends in the keyword holding it
		// ("items") or a property name ("f"): say what failed instead.
		keyword = "false"
	case keyword == "required":
		// One violation per missing property, as the worker reports them.
		if names, ok := quotedList(strings.TrimPrefix(e.Message, "missing properties: ")); ok {
			out := make([]Violation, len(names))
			for i, name := range names {
				out[i] = Violation{InstancePath: path, Keyword: keyword, Message: "missing required property " + shown(name)}
			}
			return out
		}
	case keyword == "dependentRequired" || keyword == "dependencies":
		var names []string
		if before, after, ok := strings.Cut(e.Message, " is required, if "); ok {
			a, okA := quotedList(strings.TrimPrefix(before, "property "))
			b, okB := quotedList(strings.TrimSuffix(after, " property exists"))
			if okA && okB && len(a) == 1 && len(b) == 1 {
				names = append(a, b...)
			}
		}
		if names != nil {
			return []Violation{{InstancePath: path, Keyword: keyword,
				Message: "missing property " + shown(names[0]) + ", required when " + shown(names[1]) + " is present"}}
		}
	}
	return []Violation{{InstancePath: path, Keyword: keyword, Message: e.Message}}
}

// keywordOf is the keyword at the end of a keyword location: its last
// token, but for the locations v5 gives one name of dependentRequired or
// dependencies (".../dependentRequired/<name>/<index>").
func keywordOf(location string) string {
	tokens := strings.Split(location, "/")
	if n := len(tokens); n >= 3 && (tokens[n-3] == "dependentRequired" || tokens[n-3] == "dependencies") {
		return tokens[n-3]
	}
	return tokens[len(tokens)-1]
}

// falseSchemaMessage is jsonschema/v5's whole message for a value that
// meets a false schema (v5 is pinned in go.mod).
const falseSchemaMessage = "not allowed"

// quotedList reads the names v5 lists in a message, each single-quoted
// with Go's escapes (v5's quote) and separated by ", ".
func quotedList(s string) ([]string, bool) {
	var names []string
	for {
		if !strings.HasPrefix(s, "'") {
			return nil, false
		}
		// Back to a Go string literal: \' is ', and " is escaped.
		var lit strings.Builder
		lit.WriteByte('"')
		i, closed := 1, false
		for i < len(s) && !closed {
			switch c := s[i]; c {
			case '\\':
				if i+1 >= len(s) {
					return nil, false
				}
				if s[i+1] == '\'' {
					lit.WriteByte('\'')
				} else {
					lit.WriteString(s[i : i+2])
				}
				i += 2
			case '"':
				lit.WriteString(`\"`)
				i++
			case '\'':
				closed = true
				i++
			default:
				lit.WriteByte(c)
				i++
			}
		}
		lit.WriteByte('"')
		name, err := strconv.Unquote(lit.String())
		if !closed || err != nil {
			return nil, false
		}
		names = append(names, name)
		s = s[i:]
		if s == "" {
			return names, true
		}
		if !strings.HasPrefix(s, ", ") {
			return nil, false
		}
		s = s[2:]
	}
}

// shown is a name as JSON text, cut to the length the worker's messages
// show (notebridge_worker.contracts._shown).
func shown(name string) string {
	const max = 60
	text := quoteJSON(name)
	if utf8.RuneCountInString(text) <= max {
		return text
	}
	runes := []rune(text)
	return string(runes[:max-1]) + "…"
}
