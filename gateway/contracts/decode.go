package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	segjson "github.com/segmentio/encoding/json"
)

// SyntaxError says where a JSON document stops being JSON.
type SyntaxError struct {
	Offset int64 // bytes read before the error
	Line   int
	Column int
	Msg    string
	// Err is the class of the error when there is one to test with
	// errors.Is: ErrTooDeep or ErrNotUnicode.
	Err error
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s at line %d, column %d", e.Msg, e.Line, e.Column)
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// DecodeJSON decodes one JSON document for validation. Numbers stay
// json.Number, so validation sees the exact digits the client sent, and
// anything after the document is an error. A document that is not Unicode
// text or nests deeper than MaxDepthCeiling is refused before it is
// decoded (checkText).
//
// segmentio/encoding decodes the common, valid document in about half the
// time of encoding/json; anything it does not accept whole goes through
// encoding/json, which decides and says where the document breaks.
// decode_test.go checks that the two agree.
func DecodeJSON(data []byte) (any, error) {
	if err := checkText(data, MaxDepthCeiling); err != nil {
		return nil, err
	}
	return decode(data)
}

// decode is DecodeJSON on a document checkText passed.
func decode(data []byte) (any, error) {
	var v any
	if rest, err := segjson.Parse(data, &v, segjson.UseNumber); err == nil && onlySpace(rest) {
		return v, nil
	}
	return decodeStd(data)
}

// onlySpace reports whether b holds nothing but JSON whitespace.
func onlySpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

func decodeStd(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, syntaxError(data, dec.InputOffset(), err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, syntaxError(data, dec.InputOffset(), errors.New("unexpected data after the JSON value"))
	}
	return v, nil
}

func syntaxError(data []byte, offset int64, err error) *SyntaxError {
	var se *json.SyntaxError
	msg := err.Error()
	switch {
	case errors.As(err, &se):
		offset = se.Offset
	case errors.Is(err, io.EOF):
		msg = "empty body: expected a JSON value"
	case errors.Is(err, io.ErrUnexpectedEOF):
		msg = "unexpected end of JSON input"
		offset = int64(len(data))
	}
	line, col := position(data, offset)
	return &SyntaxError{Offset: offset, Line: line, Column: col, Msg: msg}
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	if col == 0 {
		col = 1
	}
	return line, col
}
