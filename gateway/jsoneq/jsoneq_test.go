package jsoneq_test

import (
	"reflect"
	"testing"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/jsoneq"
)

func decode(t *testing.T, s string) any {
	t.Helper()
	v, err := contracts.DecodeJSON([]byte(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name      string
		got, want string
		diffs     []string
	}{
		{"member order", `{"a": 1, "b": [true, null]}`, `{"b": [true, null], "a": 1}`, nil},
		{"integer and decimal", `1`, `1.0`, nil},
		{"exponent", `1e2`, `100`, nil},
		{"trailing zeros", `12345678901234567890.1250`, `12345678901234567890.125`, nil},
		{"digits a float64 would lose", `12345678901234567890.125`, `12345678901234567890.126`,
			[]string{"(root): got 12345678901234567890.125; want 12345678901234567890.126"}},
		{"number and string", `1`, `"1"`, []string{`(root): got 1; want "1"`}},
		{"missing member", `{"a": 1}`, `{"a": 1, "b": {"c": 2}}`, []string{`/b: missing; want {"c":2}`}},
		{"extra member", `{"a": 1, "x~y/z": 2}`, `{"a": 1}`, []string{"/x~0y~1z: got 2; want nothing there"}},
		{"array order matters", `[1, 2]`, `[2, 1]`, []string{"/0: got 1; want 2", "/1: got 2; want 1"}},
		{"array length", `[1]`, `[1, 2]`, []string{"(root): got [1]; want [1,2]"}},
		{"nested", `{"s": [{"score": 1.5}]}`, `{"s": [{"score": 1.6}]}`, []string{"/s/0/score: got 1.5; want 1.6"}},
		{"null and false", `null`, `false`, []string{"(root): got null; want false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, d := range jsoneq.Diff(decode(t, tt.got), decode(t, tt.want)) {
				got = append(got, d.String())
			}
			if !reflect.DeepEqual(got, tt.diffs) {
				t.Errorf("got %q; want %q", got, tt.diffs)
			}
			if eq := jsoneq.Equal(decode(t, tt.got), decode(t, tt.want)); eq != (len(tt.diffs) == 0) {
				t.Errorf("Equal = %v; want %v", eq, len(tt.diffs) == 0)
			}
		})
	}
}

func TestDecimal(t *testing.T) {
	tests := []struct {
		in   any
		want string
		ok   bool
	}{
		{float64(0.1), "1/10", true},
		{int(3), "3", true},
		{"3", "", false},
	}
	for _, tt := range tests {
		r, ok := jsoneq.Decimal(tt.in)
		if ok != tt.ok || (ok && r.RatString() != tt.want) {
			t.Errorf("Decimal(%v) = %v, %v; want %s, %v", tt.in, r, ok, tt.want, tt.ok)
		}
	}
}
