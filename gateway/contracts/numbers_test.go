package contracts

import (
	"math/big"
	"regexp"
	"strings"
	"testing"
)

func TestInNumberDomain(t *testing.T) {
	tests := []struct {
		lit  string
		want bool
	}{
		{"0", true}, {"-0", true}, {"42", true}, {"-1.5", true}, {"2.0", true}, {"1e2", true},
		{"1e307", true}, {"9.999e307", true}, {"-9.999e307", true}, {"1e308", false}, {"1E400", false},
		{"1e1000001", false}, {"1e-307", true}, {"0.1e-306", true}, {"1e-308", false}, {"-1e-400", false},
		{"0e99", true}, {"0.000e-9999", true}, {"0e10000", false}, {"0E-10000", false},
		{"0.05", true}, {"123.456e-2", true}, {"1e+0", true}, {"00", true},
		{strings.Repeat("9", 100), true}, {strings.Repeat("9", 101), false},
		{"1." + strings.Repeat("0", 99), true}, {"1." + strings.Repeat("0", 100), false}, {"-" + strings.Repeat("1", 100), true},
		{"1" + strings.Repeat("0", 99) + "e200", true},  // 1e299
		{"1" + strings.Repeat("0", 99) + "e300", false}, // 1e399
	}
	for _, tt := range tests {
		t.Run(tt.lit, func(t *testing.T) {
			if got, why := InNumberDomain(tt.lit, 100); got != tt.want || got != (why == "") {
				t.Fatalf("InNumberDomain(%s, 100) = %v, %q; want %v", tt.lit, got, why, tt.want)
			}
		})
	}
}

func TestNumberViolationsLocateEveryNumber(t *testing.T) {
	value, err := DecodeJSON([]byte(`{"a":[1,1e400,{"b/c~":-1e-400}],"ok":1.5,"big":` + strings.Repeat("7", 11) + `}`))
	if err != nil {
		t.Fatal(err)
	}
	vs := numberViolations(value, 10)
	want := []string{"/a/1", "/a/2/b~1c~0", "/big"}
	if len(vs) != len(want) {
		t.Fatalf("got %d violations %v; want %d at %v", len(vs), vs, len(want), want)
	}
	for i, v := range vs {
		if v.InstancePath != want[i] || v.Keyword != "numberDomain" {
			t.Errorf("violation %d = %+v; want numberDomain at %s", i, v, want[i])
		}
	}
}

// FuzzNumberDomain checks InNumberDomain against exact arithmetic on every
// JSON number literal with an exponent small enough to compute.
func FuzzNumberDomain(f *testing.F) {
	for _, lit := range []string{"0", "1e307", "1e308", "9.99e307", "1e-307", "0.99e-307", "-0.0e5", "123.456e-300", "1e400"} {
		f.Add(lit)
	}
	number := regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]{1,4})?$`)
	low, high := new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Exp(big.NewInt(10), big.NewInt(307), nil)),
		new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(308), nil))
	f.Fuzz(func(t *testing.T, lit string) {
		if !number.MatchString(lit) || len(lit) > 200 {
			return
		}
		r, ok := new(big.Rat).SetString(lit)
		if !ok {
			t.Fatalf("big.Rat cannot read %s", lit)
		}
		mantissa, _, _ := strings.Cut(strings.ToLower(lit), "e")
		digits := len(strings.NewReplacer("-", "", ".", "").Replace(mantissa))
		abs := new(big.Rat).Abs(r)
		want := digits <= 100
		if strings.ContainsAny(lit, ".eE") && abs.Sign() != 0 {
			want = want && abs.Cmp(low) >= 0 && abs.Cmp(high) < 0
		}
		if got, why := InNumberDomain(lit, 100); got != want {
			t.Fatalf("InNumberDomain(%s) = %v (%s); want %v", lit, got, why, want)
		}
	})
}
