package contracts

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The exponent range of the numeric domain: a number written with a
// fraction or an exponent is 0 or has a magnitude in [1e-307, 1e308), so
// it is a normal, finite float64 in Go and in Python alike.
const (
	minDomainExponent = -307
	maxDomainExponent = 307
	// maxWrittenExponent bounds the exponent as written, which is what
	// exact arithmetic on a zero such as 0e99999999 would cost.
	maxWrittenExponent = 9999
)

// numberDomainKeyword is the Violation.Keyword of a number outside the
// numeric domain.
const numberDomainKeyword = "numberDomain"

// InNumberDomain reports whether lit, a JSON number literal, is in the
// numeric domain of docs/protocol.md ("Numbers"), which both the gateway
// and the Python worker represent exactly: at most maxDigits digits before
// any exponent; and, written with a fraction or an exponent, a value of 0
// or of a magnitude in [1e-307, 1e308), with an exponent within ±9999. If
// not, the reason says why, for a human.
func InNumberDomain(lit string, maxDigits int) (ok bool, reason string) {
	digits, firstNonZero, intDigits := 0, -1, 0
	i := 0
	if i < len(lit) && lit[i] == '-' {
		i++
	}
	decimal := false
	for ; i < len(lit); i++ {
		c := lit[i]
		switch {
		case '0' <= c && c <= '9':
			if c != '0' && firstNonZero < 0 {
				firstNonZero = digits
			}
			digits++
			if !decimal {
				intDigits++
			}
			continue
		case c == '.':
			decimal = true
			continue
		}
		break // e or E
	}
	if digits > maxDigits {
		return false, fmt.Sprintf("it has %d digits; at most %d are accepted", digits, maxDigits)
	}
	if i == len(lit) && !decimal {
		return true, "" // an integer: exact on both sides at any magnitude
	}
	exp := 0
	if i < len(lit) { // the exponent
		e, err := strconv.Atoi(lit[i+1:])
		if err != nil || e < -maxWrittenExponent || e > maxWrittenExponent {
			return false, fmt.Sprintf("its exponent is beyond ±%d", maxWrittenExponent)
		}
		exp = e
	}
	if firstNonZero < 0 {
		return true, "" // zero
	}
	// The power of ten of the first significant digit: 1.5e3 → 3, 0.05 → -2.
	magnitude := intDigits - 1 - firstNonZero + exp
	if magnitude < minDomainExponent || magnitude > maxDomainExponent {
		return false, "written with a fraction or an exponent, a number must be 0 or have a magnitude between 1e-307 and 1e308"
	}
	return true, ""
}

// numberViolations lists every number in v, a value DecodeJSON returned,
// that is outside the numeric domain, by its JSON pointer.
func numberViolations(v any, maxDigits int) []Violation {
	if allInDomain(v, maxDigits) { // the common case, with no pointer built
		return nil
	}
	var out []Violation
	var walk func(v any, at []byte)
	walk = func(v any, at []byte) {
		switch v := v.(type) {
		case json.Number:
			if ok, why := InNumberDomain(string(v), maxDigits); !ok {
				out = append(out, Violation{InstancePath: string(at), Keyword: numberDomainKeyword,
					Message: fmt.Sprintf("%s is outside the numbers both sides carry exactly: %s", shorten(string(v)), why)})
			}
		case map[string]any:
			for k, item := range v {
				walk(item, appendPointerToken(at, k))
			}
		case []any:
			for i, item := range v {
				walk(item, strconv.AppendInt(append(at, '/'), int64(i), 10))
			}
		}
	}
	walk(v, nil)
	sortViolations(out)
	return out
}

// appendPointerToken appends "/" and name escaped as RFC 6901 says.
func appendPointerToken(at []byte, name string) []byte {
	at = append(at, '/')
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '~':
			at = append(at, '~', '0')
		case '/':
			at = append(at, '~', '1')
		default:
			at = append(at, name[i])
		}
	}
	return at
}

// shorten keeps a long literal readable in a message.
func shorten(lit string) string {
	if len(lit) <= 40 {
		return lit
	}
	return lit[:20] + "…" + lit[len(lit)-12:] + fmt.Sprintf(" (%d characters)", len(lit))
}

// allInDomain reports whether every number in v is in the numeric domain.
func allInDomain(v any, maxDigits int) bool {
	switch v := v.(type) {
	case json.Number:
		// As the scan does: no exponent and under 300 characters is in the
		// domain when within the digit limit.
		if len(v) <= maxDigits && len(v) <= 300 && !strings.ContainsAny(string(v), "eE") {
			return true
		}
		ok, _ := InNumberDomain(string(v), maxDigits)
		return ok
	case map[string]any:
		for _, item := range v {
			if !allInDomain(item, maxDigits) {
				return false
			}
		}
	case []any:
		for _, item := range v {
			if !allInDomain(item, maxDigits) {
				return false
			}
		}
	}
	return true
}
