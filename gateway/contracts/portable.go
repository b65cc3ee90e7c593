package contracts

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The gateway (jsonschema/v5, Go's regexp) and the workers (Python's
// jsonschema, RE2) must load the same schemas and judge every value the
// same way. A few constructs break that: one side resolves, reads or
// enforces them differently, or v5 gets them wrong. The loader refuses
// them, saying what to write instead; the Python loader
// (notebridge_worker/contracts.py) refuses the same, with the same words.
// docs/contracts.md lists them, and testdata/schema-suite.json says which
// groups of the JSON-Schema-Test-Suite each one refuses.

// dialects are the $schema values both sides implement alike, without a
// trailing "#", by the name the rules below use.
var dialects = map[string]string{
	"https://json-schema.org/draft/2020-12/schema": "2020-12",
	"https://json-schema.org/draft/2019-09/schema": "2019-09",
	"http://json-schema.org/draft-07/schema":       "draft-07",
	"http://json-schema.org/draft-06/schema":       "draft-06",
	"http://json-schema.org/draft-04/schema":       "draft-04",
}

// defaultDialect is the dialect of a file without $schema (docs/protocol.md).
const defaultDialect = "2020-12"

// Keywords whose value is a schema, an object of schemas or an array of
// schemas, in any dialect both sides know; "items" is an array of schemas
// before 2020-12, and the values of "dependencies" may be arrays of names.
var (
	schemaKeywords = keywordSet("additionalProperties", "propertyNames", "contains", "not", "if", "then", "else",
		"unevaluatedItems", "unevaluatedProperties", "contentSchema", "additionalItems", "items")
	schemaMapKeywords  = keywordSet("properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies")
	schemaListKeywords = keywordSet("allOf", "anyOf", "oneOf", "prefixItems")
	// otherKeywords hold values that are not schemas. Anything else (an
	// unknown keyword) is read as a schema too, since a $ref may point
	// into it.
	otherKeywords = keywordSet("$schema", "$id", "id", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor",
		"$recursiveRef", "$recursiveAnchor", "$vocabulary", "$comment",
		"type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
		"maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxContains", "minContains",
		"maxProperties", "minProperties", "required", "dependentRequired",
		"format", "contentEncoding", "contentMediaType", "title", "description", "default", "deprecated",
		"readOnly", "writeOnly", "examples")
	// countKeywords take a non-negative integer.
	countKeywords = keywordSet("maxLength", "minLength", "maxItems", "minItems", "maxContains", "minContains",
		"maxProperties", "minProperties")
	// dynamicKeywords and what to use instead.
	dynamicKeywords = map[string]string{
		"$dynamicRef":      "$ref to a $defs entry",
		"$dynamicAnchor":   "$anchor",
		"$recursiveRef":    "$ref to a $defs entry",
		"$recursiveAnchor": "nothing: $ref the schema itself",
	}
)

func keywordSet(names ...string) map[string]bool {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set
}

// portability is what checkPortable learnt about a schema file and the
// files it reaches: their dialects, and the findings.
type portability struct {
	dialects map[string]string // absolute path -> dialect
	findings []Finding
}

// checkPortable reads a schema file and every file it reaches through a
// relative $ref, and finds every construct of them that the two sides would
// not load or judge alike. Files it cannot read or decode are left to the
// compiler, which says why.
func checkPortable(root string) portability {
	p := portability{dialects: map[string]string{}}
	queue := []string{root}
	for len(queue) > 0 {
		file, err := filepath.Abs(queue[0])
		queue = queue[1:]
		if err != nil {
			continue
		}
		if _, seen := p.dialects[file]; seen {
			continue
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		doc, err := DecodeJSON(raw)
		if err != nil {
			continue
		}
		w := portableWalk{where: displayPath(file), dialect: defaultDialect}
		if m, ok := doc.(map[string]any); ok {
			if s, present := m["$schema"]; present {
				w.rootDialect(s)
			}
		}
		p.dialects[file] = w.dialect
		w.schema(doc, "", true)
		p.findings = append(p.findings, w.findings...)
		// The files the digest reads, which the worker reads too.
		refs := FileRefs(doc)
		sort.Strings(refs)
		for _, ref := range refs {
			queue = append(queue, filepath.Join(filepath.Dir(file), filepath.FromSlash(ref)))
		}
	}
	return p
}

// portableWalk checks the schemas of one file.
type portableWalk struct {
	where    string // the file, as findings name it
	dialect  string
	findings []Finding
}

func (w *portableWalk) refuse(pointer, format string, args ...any) {
	w.findings = append(w.findings, finding(w.where, pointer, format, args...))
}

func (w *portableWalk) rootDialect(s any) {
	uri, _ := s.(string)
	if d, ok := dialects[strings.TrimSuffix(uri, "#")]; ok {
		w.dialect = d
		return
	}
	w.dialect = "unknown"
	w.refuse("/$schema", "$schema %s is not a dialect both the gateway and the worker implement: "+
		"leave $schema out for draft 2020-12, or use https://json-schema.org/draft/2019-09/schema "+
		"or http://json-schema.org/draft-07/schema#, -06 or -04", showJSON(s))
}

// schema checks the schema v at pointer; root says it is the file's top.
func (w *portableWalk) schema(v any, pointer string, root bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return // true, false, or not a schema: the meta-schema decides
	}
	for _, k := range sortedKeys(m) {
		value, at := m[k], pointer+"/"+escapePointer(k)
		switch {
		case k == "$schema" && !root:
			w.refuse(at, "$schema is allowed only at the top of a schema file: "+
				"a contract's schema files share one dialect; remove it here")
		case k == "$id" || k == "id" && w.dialect == "draft-04":
			w.refuse(at, "%s is not supported: a contract schema is known by its file; "+
				`remove %s, and $ref other files by their path relative to this one ("common.json#/$defs/name")`, k, k)
		case k == "$ref":
			w.ref(value, at)
		case dynamicKeywords[k] != "":
			w.refuse(at, "%s is not supported (the gateway's validator resolves dynamic references wrongly): use %s",
				k, dynamicKeywords[k])
		case k == "enum":
			if list, ok := value.([]any); ok && len(list) == 0 {
				w.refuse(at, "enum [] allows no value: write false for a schema that nothing may match")
			}
		case countKeywords[k]:
			w.count(k, value, at)
		case k == "dependencies" && (w.dialect == "2020-12" || w.dialect == "2019-09"):
			w.refuse(at, "dependencies is not a keyword of draft %s (the gateway would enforce it, the worker ignore it): "+
				"use dependentRequired for property names and dependentSchemas for schemas", w.dialect)
		case k == "pattern":
			if pattern, ok := value.(string); ok {
				w.pattern(pattern, at)
			}
		case k == "patternProperties":
			if props, ok := value.(map[string]any); ok {
				for _, pattern := range sortedKeys(props) {
					w.pattern(pattern, at+"/"+escapePointer(pattern))
				}
			}
		}
		w.descend(k, value, at)
	}
}

// sortedKeys are m's keys in order, so that findings come in the same
// order on both sides.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// descend checks the subschemas a keyword holds.
func (w *portableWalk) descend(keyword string, value any, at string) {
	switch {
	case schemaMapKeywords[keyword]:
		if m, ok := value.(map[string]any); ok {
			for _, name := range sortedKeys(m) {
				w.schema(m[name], at+"/"+escapePointer(name), false)
			}
		}
	case schemaKeywords[keyword], schemaListKeywords[keyword], !otherKeywords[keyword]:
		switch value := value.(type) {
		case map[string]any:
			w.schema(value, at, false)
		case []any:
			for i, sub := range value {
				w.schema(sub, fmt.Sprintf("%s/%d", at, i), false)
			}
		}
	}
}

// ref checks a $ref: it names a place in this file ("#...") or in a file
// relative to it. Anything else (a URI with a scheme, an absolute path, a
// query or an escaped character) the two sides and the digest would each
// resolve in their own way, or not at all.
func (w *portableWalk) ref(v any, at string) {
	ref, ok := v.(string)
	if !ok {
		return
	}
	file, _, _ := strings.Cut(ref, "#")
	if strings.ContainsAny(file, `:?%\`) || strings.HasPrefix(file, "/") {
		w.refuse(at, "$ref %s is not a path relative to this file: notebridge reads no schema by URL or absolute path; "+
			`copy the schema into a file beside this one and $ref it as "file.json#/pointer"`, showJSON(ref))
	}
}

// count checks that a count is written as a whole number: Python reads 2.0
// as a decimal, which its meta-schema refuses, where Go accepts it.
func (w *portableWalk) count(keyword string, v any, at string) {
	n, ok := v.(interface{ String() string })
	if !ok {
		return // not a number: the meta-schema says so
	}
	lit := n.String()
	if !strings.ContainsAny(lit, ".eE") {
		return
	}
	instead := ""
	if intPart, frac, _ := strings.Cut(lit, "."); !strings.ContainsAny(lit, "eE") && strings.Trim(frac, "0") == "" {
		instead = ": write " + intPart
	}
	w.refuse(at, "%s %s: a count is written as a whole number, without a fraction or an exponent%s", keyword, lit, instead)
}

// showJSON is v, a string or a number, as JSON text for a message.
func showJSON(v any) string {
	s, ok := v.(string)
	if !ok {
		return fmt.Sprint(v)
	}
	return quoteJSON(s)
}

// quoteJSON writes s as a JSON string the way Python's json.dumps does
// with ensure_ascii=False, so that both sides word a message alike.
func quoteJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
