package contracts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"unicode/utf8"
)

// annotations are the keywords that describe a schema without changing
// what it accepts. The digest leaves them out, so that a reworded
// description or a new example is not contract drift: a worker loaded
// before the edit keeps serving. default, deprecated, readOnly and
// writeOnly are annotations too, but generated clients act on them, so a
// change to them is a change of contract.
var annotations = map[string]bool{"title": true, "description": true, "examples": true, "$comment": true}

// subschemaMaps are the keywords whose value maps names to schemas: the
// names are data (a property may be called "description"), the values are
// schemas.
var subschemaMaps = map[string]bool{
	"properties": true, "patternProperties": true, "$defs": true, "definitions": true,
	"dependentSchemas": true, "dependencies": true,
}

// subschemas are the keywords whose value is a schema or an array of
// schemas. Every other keyword's value (enum, const, default, ...) is data
// and is kept as written.
var subschemas = map[string]bool{
	"items": true, "prefixItems": true, "additionalItems": true, "contains": true,
	"additionalProperties": true, "propertyNames": true, "unevaluatedItems": true,
	"unevaluatedProperties": true, "not": true, "if": true, "then": true, "else": true,
	"allOf": true, "anyOf": true, "oneOf": true, "contentSchema": true,
}

// canonicalSchema is the form of a schema document the digest hashes
// (docs/protocol.md, "Contract digest"): annotations removed where they are
// keywords, object keys sorted by code point, no whitespace, strings
// escaped one way, numbers as written.
func canonicalSchema(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the JSON value")
	}
	var out bytes.Buffer
	writeJSON(&out, stripAnnotations(doc))
	return out.Bytes(), nil
}

// stripAnnotations returns schema without its annotation keywords, in it
// and in every subschema it holds.
func stripAnnotations(schema any) any {
	obj, ok := schema.(map[string]any)
	if !ok {
		return schema // true, false, or not a schema at all
	}
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		switch {
		case annotations[k]:
		case subschemaMaps[k]:
			out[k] = mapValues(v, stripAnnotations)
		case subschemas[k]:
			out[k] = eachSchema(v)
		default:
			out[k] = v
		}
	}
	return out
}

func mapValues(v any, f func(any) any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := make(map[string]any, len(m))
	for k, e := range m {
		out[k] = f(e)
	}
	return out
}

func eachSchema(v any) any {
	list, ok := v.([]any)
	if !ok {
		return stripAnnotations(v)
	}
	out := make([]any, len(list))
	for i, e := range list {
		out[i] = stripAnnotations(e)
	}
	return out
}

func writeJSON(out *bytes.Buffer, v any) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys) // byte order of UTF-8 is code point order
		out.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				out.WriteByte(',')
			}
			writeJSONString(out, k)
			out.WriteByte(':')
			writeJSON(out, v[k])
		}
		out.WriteByte('}')
	case []any:
		out.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				out.WriteByte(',')
			}
			writeJSON(out, e)
		}
		out.WriteByte(']')
	case string:
		writeJSONString(out, v)
	case json.Number:
		out.WriteString(string(v))
	case bool:
		out.WriteString(strconv.FormatBool(v))
	default:
		out.WriteString("null")
	}
}

// writeJSONString escapes only what JSON requires: the quote, the
// backslash and control characters (\b \f \n \r \t, others as \u00XX);
// every other character is written as its UTF-8 bytes.
func writeJSONString(out *bytes.Buffer, s string) {
	out.WriteByte('"')
	for _, r := range s { // invalid UTF-8 became U+FFFD when decoded
		switch {
		case r == '"':
			out.WriteString(`\"`)
		case r == '\\':
			out.WriteString(`\\`)
		case r == '\b':
			out.WriteString(`\b`)
		case r == '\f':
			out.WriteString(`\f`)
		case r == '\n':
			out.WriteString(`\n`)
		case r == '\r':
			out.WriteString(`\r`)
		case r == '\t':
			out.WriteString(`\t`)
		case r < 0x20:
			fmt.Fprintf(out, `\u%04x`, r)
		default:
			var b [utf8.UTFMax]byte
			out.Write(b[:utf8.EncodeRune(b[:], r)])
		}
	}
	out.WriteByte('"')
}
