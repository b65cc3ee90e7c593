package contracts_test

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/notebridge/notebridge/gateway/contracts"
)

// benchRecord is the ~200-byte request of the benchmark contract.
func benchRecord(b *testing.B) (*contracts.Contract, []byte) {
	b.Helper()
	reg, err := contracts.Load("../../bench/contracts")
	if err != nil {
		b.Fatal(err)
	}
	ct, err := reg.Lookup("mirror", 1)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile("../../bench/contracts/mirror.v1.json")
	if err != nil {
		b.Fatal(err)
	}
	var m struct {
		Examples []struct{ Request json.RawMessage } `json:"examples"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		b.Fatal(err)
	}
	return ct, m.Examples[0].Request
}

func BenchmarkDecode(b *testing.B) {
	_, body := benchRecord(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := contracts.DecodeJSON(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	ct, body := benchRecord(b)
	v, err := contracts.DecodeJSON(body)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if vs := ct.ValidateRequest(v); vs != nil {
			b.Fatal(vs)
		}
	}
}

func BenchmarkDecodeAndValidate(b *testing.B) {
	ct, body := benchRecord(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		v, err := contracts.DecodeJSON(body)
		if err != nil {
			b.Fatal(err)
		}
		if vs := ct.ValidateRequest(v); vs != nil {
			b.Fatal(vs)
		}
	}
}

// BenchmarkValidateJSON is BenchmarkDecodeAndValidate's work as the
// gateway does it: the fast path on the raw bytes, nothing decoded.
func BenchmarkValidateJSON(b *testing.B) {
	ct, body := benchRecord(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if vs, err := ct.ValidateRequestJSON(body, contracts.DefaultLimits); vs != nil || err != nil {
			b.Fatal(vs, err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	_, body := benchRecord(b)
	v, err := contracts.DecodeJSON(body)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := json.Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewRequest(b *testing.B) {
	ct, body := benchRecord(b)
	deadline := time.Now().Add(time.Second)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = ct.NewRequest(body, "bench-request-id", deadline, "")
	}
}
