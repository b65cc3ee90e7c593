package contracts

import (
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
