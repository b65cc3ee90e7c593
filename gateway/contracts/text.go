package contracts

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrTooDeep is wrapped by the *SyntaxError of a document whose arrays and
// objects nest deeper than Limits.MaxDepth.
var ErrTooDeep = errors.New("nested too deep")

// ErrNotUnicode is wrapped by the *SyntaxError of a document that is not
// Unicode text: invalid UTF-8, or a \u escape of a lone surrogate. RFC 8259
// requires UTF-8; a decoder would replace such bytes with U+FFFD, so the
// document validated would not be the document forwarded.
var ErrNotUnicode = errors.New("not Unicode text")

// checkText is the pass that runs before any decoder on a document the fast
// scan did not vouch for: in one linear pass, with no recursion, it checks
// the nesting depth and that every string is Unicode text. It leaves the
// rest of JSON's grammar to the decoder, which is safe to run once the
// depth is bounded.
func checkText(data []byte, maxDepth int) error {
	depth := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '[', '{':
			if depth++; depth > maxDepth {
				return textError(data, i, ErrTooDeep, "arrays and objects nest deeper than "+strconv.Itoa(maxDepth))
			}
		case ']', '}':
			depth--
		case '"':
			end, err := checkString(data, i+1)
			if err != nil {
				return err
			}
			i = end
		}
	}
	return nil
}

// checkString checks the string whose contents start at i and returns the
// offset of its closing quote (or len(data) if it has none: the decoder
// says so).
func checkString(data []byte, i int) (int, error) {
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			return i, nil
		case c == '\\':
			if i+1 < len(data) && data[i+1] >= utf8.RuneSelf {
				i++ // an invalid escape, the decoder's to refuse; the rune is read next
				continue
			}
			if i+1 < len(data) && data[i+1] == 'u' {
				r, ok := hex4(data[i+2:])
				if ok && utf16.IsSurrogate(r) {
					if r >= 0xdc00 || !lowSurrogateAt(data, i+6) {
						return 0, textError(data, i, ErrNotUnicode, "a \\u escape of a lone surrogate")
					}
					i += 6 // the pair's second half is read next
				}
			}
			i += 2
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, textError(data, i, ErrNotUnicode, "invalid UTF-8")
			}
			i += size
		}
	}
	return len(data), nil
}

// lowSurrogateAt reports whether data holds the \u escape of a low
// surrogate at i.
func lowSurrogateAt(data []byte, i int) bool {
	if i+1 >= len(data) || data[i] != '\\' || data[i+1] != 'u' {
		return false
	}
	r, ok := hex4(data[i+2:])
	return ok && 0xdc00 <= r && r <= 0xdfff
}

// textError locates the byte at offset: its column counts it.
func textError(data []byte, offset int, cause error, msg string) *SyntaxError {
	line, col := position(data, int64(offset)+1)
	return &SyntaxError{Offset: int64(offset), Line: line, Column: col, Msg: msg, Err: cause}
}
