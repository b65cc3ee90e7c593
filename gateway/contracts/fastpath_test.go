package contracts

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fast path may say "not sure" (false) whenever it likes, but when it
// says valid, v5 must agree. These tests look for a counterexample among
// the shipped contracts' examples and thousands of mutations of them.

func shippedContracts(t testing.TB) []*Contract {
	t.Helper()
	var out []*Contract
	for _, dir := range []string{"../../contracts", "../../testdata/contracts", "../../bench/contracts"} {
		reg, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, reg.All()...)
	}
	return out
}

func TestFastPathCoversShippedContracts(t *testing.T) {
	for _, c := range shippedContracts(t) {
		for role, v := range map[string]*validator{"request": c.request, "response": c.response} {
			if v == nil {
				continue
			}
			if v.fast == nil {
				t.Errorf("%s %s: no fast path; want one (it uses only supported keywords)", c.ID(), role)
				continue
			}
			for _, ex := range c.Examples {
				doc := ex.Request
				if role == "response" {
					doc = ex.Response
				}
				if len(doc) == 0 {
					continue
				}
				value, err := DecodeJSON(doc)
				if err != nil {
					t.Fatal(err)
				}
				if !v.fast.valid(value) {
					t.Errorf("%s %s example %q: fast path not sure; want it to accept a valid example", c.ID(), role, ex.Name)
				}
			}
		}
	}
}

func TestFastPathNeverAcceptsWhatV5Rejects(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	accepted, rejected := 0, 0
	for _, c := range shippedContracts(t) {
		for _, ex := range c.Examples {
			for role, doc := range map[string]json.RawMessage{"request": ex.Request, "response": ex.Response} {
				v := c.request
				if role == "response" {
					v = c.response
				}
				if len(doc) == 0 || v == nil || v.fast == nil {
					continue
				}
				for i := 0; i < 2000; i++ {
					value := mutate(rng, decodeT(t, doc), 3)
					fast := v.fast.valid(value)
					full := v.full.Validate(value) == nil
					if fast && !full {
						b, _ := json.Marshal(value)
						t.Fatalf("%s %s: fast path accepted %s, which v5 rejects: %v", c.ID(), role, b, v.full.Validate(value))
					}
					if full {
						accepted++
					} else {
						rejected++
					}
				}
			}
		}
	}
	// Mutations that all pass, or all fail, would prove nothing.
	if accepted < 100 || rejected < 100 {
		t.Fatalf("got %d valid and %d invalid mutations; want at least 100 of each", accepted, rejected)
	}
}

func TestFastPathAgreesOnTheConformanceTable(t *testing.T) {
	table := ReadConformanceTable(t)
	for _, tc := range table.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.json")
			if err := os.WriteFile(path, tc.Schema, 0o644); err != nil {
				t.Fatal(err)
			}
			s, fs := compile(path)
			if len(fs) > 0 {
				t.Fatal(fs)
			}
			fast := compileFast(s)
			if fast == nil {
				return // outside the fast path (uniqueItems): v5 alone decides
			}
			for _, inst := range tc.Invalid {
				if fast.valid(decodeT(t, inst)) {
					t.Errorf("fast path accepted invalid %s", inst)
				}
			}
		})
	}
}

func decodeT(t testing.TB, raw json.RawMessage) any {
	t.Helper()
	v, err := DecodeJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// mutate returns a copy of v with up to n random changes of the kinds that
// cross schema boundaries: lengths, bounds, types, missing and extra members.
func mutate(rng *rand.Rand, v any, n int) any {
	if n == 0 || rng.Intn(4) == 0 {
		return v
	}
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v)+1)
		for k, val := range v {
			out[k] = val
		}
		keys := make([]string, 0, len(out))
		for k := range out {
			keys = append(keys, k)
		}
		switch rng.Intn(4) {
		case 0:
			if len(keys) > 0 {
				delete(out, keys[rng.Intn(len(keys))])
			}
		case 1:
			out[fmt.Sprintf("extra%d", rng.Intn(3))] = randomValue(rng)
		default:
			if len(keys) > 0 {
				k := keys[rng.Intn(len(keys))]
				out[k] = mutate(rng, out[k], n-1)
			}
		}
		return out
	case []any:
		out := append([]any(nil), v...)
		switch rng.Intn(3) {
		case 0:
			out = append(out, randomValue(rng))
		case 1:
			if len(out) > 0 {
				out = out[:rng.Intn(len(out))]
			}
		default:
			if len(out) > 0 {
				i := rng.Intn(len(out))
				out[i] = mutate(rng, out[i], n-1)
			}
		}
		return out
	case string:
		switch rng.Intn(3) {
		case 0:
			return strings.Repeat(string([]rune("aé😀日")[rng.Intn(4)]), rng.Intn(130))
		case 1:
			return ""
		}
		return randomValue(rng)
	case json.Number:
		return json.Number([]string{"0", "-0", "1", "1.0", "-1", "0.5", "1.0000000000000000001", "0.9999999999999999999",
			"20", "21", "2.5e1", "1e400", "-1e-400", "99999999999999999999999", "3.00", "0.07"}[rng.Intn(16)])
	default:
		return randomValue(rng)
	}
}

func randomValue(rng *rand.Rand) any {
	switch rng.Intn(7) {
	case 0:
		return nil
	case 1:
		return rng.Intn(2) == 0
	case 2:
		return json.Number(fmt.Sprint(rng.Intn(100) - 50))
	case 3:
		return strings.Repeat("x", rng.Intn(10))
	case 4:
		return []any{json.Number("1"), "a"}
	case 5:
		return map[string]any{"text": "a"}
	default:
		return json.Number("0.25")
	}
}

// BenchmarkValidateFullV5 is the baseline BenchmarkValidate is measured
// against: the same record through jsonschema/v5 alone.
func BenchmarkValidateFullV5(b *testing.B) {
	reg, err := Load("../../bench/contracts")
	if err != nil {
		b.Fatal(err)
	}
	c := reg.All()[0]
	value := decodeT(b, c.Examples[0].Request)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.request.full.Validate(value); err != nil {
			b.Fatal(err)
		}
	}
}
