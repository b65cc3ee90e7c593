// Package jsoneq compares JSON values by meaning rather than by bytes:
// member order and insignificant whitespace do not matter, and numbers
// compare as exact decimals, so 1, 1.0 and 1e0 are equal and
// 12345678901234567890.125 is not rounded to a float64 on the way.
package jsoneq

import (
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// Difference is one place where two JSON values differ.
type Difference struct {
	// Pointer is the JSON pointer (RFC 6901) of the place; "" is the root.
	Pointer string
	// Got and Want are the values there, as compact JSON; "" when absent.
	Got, Want string
}

// String formats the difference for a human: "/a/0: got 1; want 2".
func (d Difference) String() string {
	where := d.Pointer
	if where == "" {
		where = "(root)"
	}
	switch {
	case d.Got == "":
		return fmt.Sprintf("%s: missing; want %s", where, d.Want)
	case d.Want == "":
		return fmt.Sprintf("%s: got %s; want nothing there", where, d.Got)
	default:
		return fmt.Sprintf("%s: got %s; want %s", where, d.Got, d.Want)
	}
}

// Equal reports whether two decoded JSON values mean the same. Numbers
// must be json.Number (json.Decoder.UseNumber) to compare exactly;
// float64 values compare through their shortest decimal form.
func Equal(a, b any) bool { return len(Diff(a, b)) == 0 }

// Diff returns every place where got differs from want, in pointer order.
func Diff(got, want any) []Difference {
	var out []Difference
	diff(&out, "", got, want)
	return out
}

func diff(out *[]Difference, ptr string, got, want any) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range g {
			keys[k] = true
		}
		for k := range w {
			keys[k] = true
		}
		for _, k := range sorted(keys) {
			at := ptr + "/" + escape(k)
			gv, gok := g[k]
			wv, wok := w[k]
			switch {
			case !gok:
				*out = append(*out, Difference{Pointer: at, Want: compact(wv)})
			case !wok:
				*out = append(*out, Difference{Pointer: at, Got: compact(gv)})
			default:
				diff(out, at, gv, wv)
			}
		}
		return
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			break
		}
		for i := range w {
			diff(out, ptr+"/"+strconv.Itoa(i), g[i], w[i])
		}
		return
	default:
		if scalarEqual(got, want) {
			return
		}
	}
	*out = append(*out, Difference{Pointer: ptr, Got: compact(got), Want: compact(want)})
}

func scalarEqual(a, b any) bool {
	ra, aNum := Decimal(a)
	rb, bNum := Decimal(b)
	if aNum || bNum {
		return aNum && bNum && ra.Cmp(rb) == 0
	}
	switch a.(type) {
	case map[string]any, []any:
		return false
	}
	return a == b
}

// Decimal reads a decoded JSON number (json.Number, float64 or an integer)
// as an exact rational.
func Decimal(v any) (*big.Rat, bool) {
	var s string
	switch n := v.(type) {
	case json.Number:
		s = string(n)
	case float64:
		s = strconv.FormatFloat(n, 'g', -1, 64)
	case int:
		s = strconv.Itoa(n)
	case int64:
		s = strconv.FormatInt(n, 10)
	default:
		return nil, false
	}
	return new(big.Rat).SetString(s)
}

func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func escape(tok string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(tok) }

func sorted(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
