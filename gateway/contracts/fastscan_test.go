package contracts

import (
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

// The scan (validJSON) may say "not sure" whenever it likes, but when it
// says valid, DecodeJSON must accept the bytes and v5 the value. It must
// also say valid as often as the fast path on decoded values does, or it
// saves nothing: on ordinary documents the two must agree.

// scanCorpus adds documents at the edges of the scan's own rules to the
// decoders' corpus: escapes, surrogates, nesting, duplicates.
var scanCorpus = append([]string{
	`{"text":"a\"b\\c\/d\b\f\n\r\t"}`, `{"text":"\u00e9\u65e5"}`, `{"text":"\ud83d\ude00"}`, `{"text":"\ud83d"}`,
	`{"te\u0078t":"a"}`, `{"text":"a","text":"b"}`, `{"text":"a","text":1}`, `{"text":"a"}x`, `{"text":"a"} `,
	`{"text":"a","n":1e400}`, `{"text":"a","n":-0.0e-0}`, `{"text":"a","sleep_ms":1.0}`, `{"text":"a","sleep_ms":1e1}`,
	`{"text":"a","behavior":"echo"}`, `{"text":"a","behavior":"ech\u006f"}`, `{"text":"a","behavior":"nope"}`,
	"{\"text\":\"a\x01\"}", "{\"text\":\"\xff\"}", `{"text":"a","n":01}`, `{"text":"a","n":-}`, `{"text":"a","n":1.}`,
	`{"text":"a","n":.5}`, `{"text":"a","n":1e+}`, `{"text":"a","n":tru}`, `{"text":"a","n":[1,]}`, `{"a":[1 2]}`, `{"a":{"b" 1}}`,
	`{"text" "a"}`, `{"text":"a",}`, `{"text":"a"`, `{"text":"\u00"}`, `{"text":"\q"}`, "{\"text\":\"\xe6\x97\"}",
	`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
}, decodeCorpus...)

func TestFastScanOnlyVouchesForValidJSON(t *testing.T) {
	validators := map[string]*validator{}
	for _, c := range shippedContracts(t) {
		for role, v := range map[string]*validator{"request": c.request, "response": c.response, "chunk": c.chunk} {
			if v != nil && v.fast != nil {
				validators[c.ID()+" "+role] = v
			}
		}
	}
	// Schemas that accept any JSON leave the syntax alone to decide.
	for _, schema := range []string{`true`, `{}`, `{"items": {}, "additionalProperties": {}}`} {
		validators[schema] = validatorT(t, schema)
	}
	for name, v := range validators {
		for _, doc := range scanCorpus {
			checkScan(t, name, v, []byte(doc))
		}
	}
}

func TestFastScanAgreesWithFastPath(t *testing.T) {
	tests := []struct {
		doc  string
		want bool
	}{
		{`{"text":"hello"}`, true},
		{" \r\n\t{ \"text\" : \"hello\" , \"n\" : -1.5E+3 } \n", true},
		{`{"text":"a\"b\\c\/d\b\f\n\r\t"}`, true},
		{`{"te\u0078t":"\u00e9\u65e5"}`, true},
		{`{"text":"é日😀"}`, true},
		{`{"text":"a","behavior":"ech\u006f","sleep_ms":1.0}`, true},
		{`{"text":"a","text":"b"}`, true}, // the last wins: the scan checks both
		{`{"text":"a","text":1}`, false},
		{`{"text":"a","n":1e300}`, true},
		{`{"text":"a","n":1e400}`, false},      // outside the numeric domain
		{`{"text":"a","n":-1e-400}`, false},    // so is this, which a float64 makes 0
		{`{"text":"a","sleep_ms":1e1}`, false}, // an exponent: not sure it is an integer
		{`{"text":"a","behavior":"nope"}`, false},
		{`{"text":"a","extra":1}`, false},
		{`{"n":1}`, false},
		{`{"text":"\ud83d\ude00"}`, false}, // surrogates are the decoders' to combine
		{`{"text":"a"} x`, false},
		{`{"text":"a"`, false},
		{``, false},
	}
	echo := contractT(t, "../../testdata/contracts", "echo")
	for _, tt := range tests {
		if got := echo.request.fast.validJSON([]byte(tt.doc), DefaultLimits); got != tt.want {
			t.Errorf("validJSON(%s) = %v; want %v", tt.doc, got, tt.want)
		}
		checkScan(t, "echo/v1", echo.request, []byte(tt.doc))
	}
}

func TestFastScanAgreesOnMutations(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	accepted, rejected := 0, 0
	for _, c := range shippedContracts(t) {
		for _, ex := range c.Examples {
			for _, role := range []struct {
				v   *validator
				doc json.RawMessage
			}{{c.request, ex.Request}, {c.response, ex.Response}} {
				if len(role.doc) == 0 || role.v == nil || role.v.fast == nil {
					continue
				}
				for i := 0; i < 1000; i++ {
					data, err := json.Marshal(mutate(rng, decodeT(t, role.doc), 3))
					if err != nil {
						t.Fatal(err)
					}
					scan := checkScan(t, c.ID(), role.v, data)
					if fast := validDecoded(role.v, decodeT(t, data)); scan != fast {
						t.Fatalf("%s: validJSON(%s) = %v; valid on the decoded value = %v", c.ID(), data, scan, fast)
					}
					if scan {
						accepted++
					} else {
						rejected++
					}
				}
			}
		}
	}
	if accepted < 100 || rejected < 100 {
		t.Fatalf("got %d accepted and %d rejected mutations; want at least 100 of each", accepted, rejected)
	}
}

func TestFastScanAgreesOnTheConformanceTable(t *testing.T) {
	table := ReadConformanceTable(t)
	for _, tc := range table.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			v := validatorT(t, string(tc.Schema))
			if v.fast == nil {
				return // outside the fast path: v5 alone decides
			}
			for _, inst := range append(tc.Valid, tc.Invalid...) {
				scan := checkScan(t, tc.Name, v, inst)
				if fast := validDecoded(v, decodeT(t, inst)); scan != fast {
					t.Errorf("validJSON(%s) = %v; valid on the decoded value = %v", inst, scan, fast)
				}
			}
		})
	}
}

func FuzzFastScan(f *testing.F) {
	for _, doc := range scanCorpus {
		f.Add([]byte(doc))
	}
	echo := contractT(f, "../../testdata/contracts", "echo")
	anything := validatorT(f, `{}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScan(t, "echo/v1", echo.request, data)
		checkScan(t, "{}", anything, data)
	})
}

// validDecoded is what the scan should say of a document from what the
// fast path says of its value: valid, and every number in the domain.
func validDecoded(v *validator, value any) bool {
	return v.fast.valid(value) && len(numberViolations(value, DefaultLimits.MaxNumberDigits)) == 0
}

// checkScan returns what the scan says of data, after checking that it
// vouches only for documents within DefaultLimits that DecodeJSON accepts
// and v5 finds valid.
func checkScan(t testing.TB, id string, v *validator, data []byte) bool {
	t.Helper()
	if !v.fast.validJSON(data, DefaultLimits) {
		return false
	}
	if err := checkText(data, DefaultLimits.MaxDepth); err != nil {
		t.Fatalf("%s: validJSON(%q) = true; checkText: %v", id, data, err)
	}
	value, err := DecodeJSON(data)
	if err != nil {
		t.Fatalf("%s: validJSON(%q) = true; DecodeJSON: %v", id, data, err)
	}
	if vs := numberViolations(value, DefaultLimits.MaxNumberDigits); len(vs) > 0 {
		t.Fatalf("%s: validJSON(%q) = true; numbers: %v", id, data, vs)
	}
	if err := v.full.Validate(value); err != nil {
		t.Fatalf("%s: validJSON(%q) = true; v5: %v", id, data, err)
	}
	return true
}

func validatorT(t testing.TB, schema string) *validator {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.json")
	if err := os.WriteFile(path, []byte(schema), 0o644); err != nil {
		t.Fatal(err)
	}
	s, fs := compile(path)
	if len(fs) > 0 {
		t.Fatal(fs)
	}
	return newValidator(s)
}

func contractT(t testing.TB, dir, name string) *Contract {
	t.Helper()
	reg, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := reg.Latest(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
