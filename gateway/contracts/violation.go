package contracts

import (
	"errors"
	"sort"
	"strings"

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
// hide the rest.
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
			keyword := lastSegment(e.KeywordLocation)
			if e.Message == falseSchemaMessage {
				// The location of a false schema ends in the keyword holding it
				// ("items") or a property name ("f"): say what failed instead.
				keyword = "false"
			}
			out = append(out, Violation{
				InstancePath: e.InstanceLocation,
				Keyword:      keyword,
				Message:      e.Message,
			})
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

// falseSchemaMessage is jsonschema/v5's whole message for a value that
// meets a false schema (v5 is pinned in go.mod).
const falseSchemaMessage = "not allowed"

func lastSegment(pointer string) string {
	return pointer[strings.LastIndexByte(pointer, '/')+1:]
}
