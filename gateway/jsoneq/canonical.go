package jsoneq

import (
	"bytes"
	"encoding/json"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Canonical writes body so that two spellings of the same JSON value give
// the same bytes, exactly when Equal holds: object keys sorted, no
// insignificant whitespace, strings re-escaped one way, and numbers by
// value (1, 1.0 and 10e-1 are one number). It keys what must not depend on
// spelling: an Idempotency-Key's request, a cached reply. The body should
// have passed the request checks, so its nesting and numbers are within
// the limits; on a body that is not JSON it returns the bytes unchanged.
func Canonical(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return body
	}
	if _, err := dec.Token(); err != io.EOF {
		return body
	}
	var out bytes.Buffer
	writeCanonical(&out, v)
	return out.Bytes()
}

func writeCanonical(out *bytes.Buffer, v any) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				out.WriteByte(',')
			}
			writeString(out, k)
			out.WriteByte(':')
			writeCanonical(out, v[k])
		}
		out.WriteByte('}')
	case []any:
		out.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				out.WriteByte(',')
			}
			writeCanonical(out, e)
		}
		out.WriteByte(']')
	case string:
		writeString(out, v)
	case json.Number:
		out.WriteString(canonicalNumber(string(v)))
	case bool:
		out.WriteString(strconv.FormatBool(v))
	default: // nil
		out.WriteString("null")
	}
}

func writeString(out *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // a string always encodes
	out.Write(b)
}

// canonicalNumber spells a JSON number by value, exactly: its significant
// digits and a decimal exponent ("-12.50e1" and "-125" both give "-125e0").
// Text arithmetic keeps big integers and long decimals exact, and costs
// nothing more for an exponent of a million digits than for one of two.
func canonicalNumber(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	mantissa, exp := s, "0"
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mantissa, exp = s[:i], s[i+1:]
	}
	intPart, frac, _ := strings.Cut(mantissa, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return "0"
	}
	trimmed := strings.TrimRight(digits, "0")
	// value = digits × 10^(exp − len(frac)) = trimmed × 10^(exp − len(frac) + zeros)
	shift := int64(len(digits)-len(trimmed)) - int64(len(frac))
	e, err := strconv.ParseInt(strings.TrimPrefix(exp, "+"), 10, 64)
	if err != nil || e > 1<<62 || e < -(1<<62) { // out of any range a body within limits has
		return sign + trimmed + "e" + exp + "+" + strconv.FormatInt(shift, 10)
	}
	return sign + trimmed + "e" + strconv.FormatInt(e+shift, 10)
}
