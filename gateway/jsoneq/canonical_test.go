package jsoneq

import "testing"

func TestCanonical(t *testing.T) {
	tests := []struct {
		name, a, b string
		same       bool
	}{
		{"key order and whitespace", `{"a": 1, "b": [true, null]}`, "{\"b\":[true,null],\n\"a\":1}", true},
		{"string escapes", `{"t": "\u00e9\/"}`, `{"t": "é/"}`, true},
		{"number spellings", `[1, 1.0, 10e-1, 0.1e1, -0, 1200]`, `[1E0, 1.000, 1, 1, 0, 12e2]`, true},
		{"big integers stay exact", `[12345678901234567890123]`, `[12345678901234567890124]`, false},
		{"long decimals stay exact", `[0.10000000000000000000001]`, `[0.1]`, false},
		{"another value", `{"a": 1}`, `{"a": 2}`, false},
		{"another key", `{"a": 1}`, `{"b": 1}`, false},
		{"string is not number", `["1"]`, `[1]`, false},
		{"huge exponents compare by text", `[1e99999999999999999999]`, `[10e99999999999999999998]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := string(Canonical([]byte(tt.a))), string(Canonical([]byte(tt.b)))
			if (a == b) != tt.same {
				t.Errorf("canonical forms %s and %s: got same = %v; want %v", a, b, a == b, tt.same)
			}
		})
	}
}

func TestCanonicalNumber(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "0"}, {"-0.0", "0"}, {"1", "1e0"}, {"100", "1e2"}, {"-12.50e1", "-125e0"},
		{"0.001", "1e-3"}, {"1.5E+3", "15e2"},
	}
	for _, tt := range tests {
		if got := canonicalNumber(tt.in); got != tt.want {
			t.Errorf("canonicalNumber(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
