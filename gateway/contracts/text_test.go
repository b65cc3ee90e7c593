package contracts

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckText(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	tests := []struct {
		name   string
		doc    string
		want   error // nil, ErrTooDeep or ErrNotUnicode
		column int   // of the offending byte, when want is not nil
	}{
		{"ascii", `{"a":"b","c":[1,{"d":null}]}`, nil, 0},
		{"non-ASCII text", `{"a":"é日😀"}`, nil, 0},
		{"a literal U+FFFD", "\"\xef\xbf\xbd\"", nil, 0},
		{"a surrogate pair", `"\ud83d\ude00"`, nil, 0},
		{"escaped quote and backslash", `"\"[\\"`, nil, 0},
		{"brackets inside strings", `{"a":"[[[[[["}`, nil, 0},
		{"at the depth limit", deep(4), nil, 0},
		{"over the depth limit", deep(5), ErrTooDeep, 5},
		{"objects count too", `{"a":{"b":{"c":{"d":{}}}}}`, ErrTooDeep, 21},
		{"unclosed is the decoder's to refuse", strings.Repeat("[", 4), nil, 0},
		{"invalid byte", "{\"a\":\"x\xff\"}", ErrNotUnicode, 8},
		{"truncated rune", "\"\xc3\"", ErrNotUnicode, 2},
		{"overlong encoding", "\"\xc0\xaf\"", ErrNotUnicode, 2},
		{"CESU-8 surrogate", "\"\xed\xa0\x80\"", ErrNotUnicode, 2},
		{"a backslash before a multi-byte rune is the decoder's", "\"\\\u3f3a\"", nil, 0},
		{"lone high surrogate", `"\ud800"`, ErrNotUnicode, 2},
		{"high surrogate then text", `"\ud800x"`, ErrNotUnicode, 2},
		{"lone low surrogate", `"a\udc00"`, ErrNotUnicode, 3},
		{"two high surrogates", `"\ud800\ud800"`, ErrNotUnicode, 2},
		{"reversed pair", `"\udc00\ud800"`, ErrNotUnicode, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkText([]byte(tt.doc), 4)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("checkText(%q) = %v; want %v", tt.doc, err, tt.want)
			}
			var se *SyntaxError
			if err != nil && (!errors.As(err, &se) || se.Column != tt.column || se.Line != 1) {
				t.Fatalf("checkText(%q) = %#v; want line 1, column %d", tt.doc, err, tt.column)
			}
		})
	}
}

// A document of a megabyte of '[' is refused at once, where a decoder
// would spend minutes and gigabytes on it.
func TestDecodeJSONRefusesDeepNestingBeforeDecoding(t *testing.T) {
	_, err := DecodeJSON([]byte(strings.Repeat("[", 1<<20)))
	if !errors.Is(err, ErrTooDeep) {
		t.Fatalf("DecodeJSON(1 MiB of '[') = %v; want ErrTooDeep", err)
	}
}
