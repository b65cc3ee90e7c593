package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"
)

// decodeCorpus holds documents at the edges of JSON, where two decoders are
// most likely to disagree.
var decodeCorpus = []string{
	`{"a": 1}`, `[1, 2.50, -0, 1e400, 1E-7, 123456789012345678901234567890]`, `"x"`, `null`, `true`,
	`{"a": 1, "a": 2}`, `{"a": "\u00e9\ud83d\ude00\n\t\"\\/"}`, `"\ud800"`, `"\udc00x"`, "\"\xff\"", "\"\xc3\"",
	`{"a":1} x`, `{"a":1}{}`, `01`, `-`, `1.`, `.5`, `+1`, `1e`, `[1,]`, `{"a":1,}`, `{,}`, `[`, `{"a"}`,
	`tru`, `nul`, "\"a\x01\"", `"\x"`, `"\u12"`, " \t\n\r{}\r\n ", `{"":{"":[[[]]]}}`, `1 2`, ``, ` `,
	`{"a":[{"b":null},{"c":[true,false]}]}`, `"` + "\u2028" + `"`, `[1e-400, -1e400]`, `{"a": 0.1e+5}`,
}

func FuzzDecodeJSONAgreesWithEncodingJSON(f *testing.F) {
	for _, doc := range decodeCorpus {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDecodeAgrees(t, data) })
}

func TestDecodeJSONAgreesWithEncodingJSON(t *testing.T) {
	for _, doc := range decodeCorpus {
		checkDecodeAgrees(t, []byte(doc))
	}
}

// checkDecodeAgrees: DecodeJSON accepts exactly what encoding/json accepts
// and gives the same value, but for what is not Unicode text, which
// encoding/json turns into U+FFFD and DecodeJSON refuses.
func checkDecodeAgrees(t *testing.T, data []byte) {
	t.Helper()
	got, gotErr := DecodeJSON(data)
	want, wantErr := decodeStd(data)
	if errors.Is(gotErr, ErrNotUnicode) {
		if utf8.Valid(data) && !bytes.Contains(bytes.ToLower(data), []byte(`\ud`)) {
			t.Fatalf("%q: DecodeJSON err = %v; it is UTF-8 with no surrogate escape", data, gotErr)
		}
		return
	}
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%q: DecodeJSON err = %v; encoding/json err = %v", data, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Fatalf("%q: DecodeJSON = %s; encoding/json = %s", data, g, w)
	}
}

// BenchmarkDecodeStd is the baseline of BenchmarkDecode: encoding/json alone.
func BenchmarkDecodeStd(b *testing.B) {
	body := []byte(`{"id":42,"name":"notebridge benchmark record","tags":["alpha","beta","gamma"],"score":0.875,"active":true,"note":"about two hundred bytes of JSON, the size the performance issue measures with"}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := decodeStd(body); err != nil {
			b.Fatal(err)
		}
	}
}
