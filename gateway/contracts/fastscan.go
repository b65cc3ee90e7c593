package contracts

import (
	"encoding/json"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// validJSON is the fast path on a raw document: it asks valid's question,
// "is it certainly valid?", of the bytes a client or a worker sent, reading
// them once and building no values. The answer true also means that data is
// one well-formed JSON document, which DecodeJSON would decode to the same
// strings and numbers the scan saw.
//
// Like valid, it may say false whenever it is not sure: the caller then
// decodes the document and asks valid and v5. The scan leaves to them what
// the decoders rewrite (escaped surrogates) and what it cannot count on the
// fly (minProperties, whose count a duplicate member would inflate). It
// holds the document to lim as it goes, so true also means within lim: no
// deeper than lim.MaxDepth, valid UTF-8, every number in the numeric domain.
func (f *fastSchema) validJSON(data []byte, lim Limits) bool {
	s := scanner{data: data, maxDepth: lim.MaxDepth, maxDigits: lim.MaxNumberDigits}
	s.space()
	if !f.scan(&s, 0) {
		return false
	}
	s.space()
	return s.pos == len(s.data)
}

// scanner reads one JSON document. Strings it returns alias data or buf
// and are valid until the next string is read: they are compared and
// matched, never kept.
type scanner struct {
	data []byte
	pos  int
	buf  []byte // the last string that held escapes, unescaped
	// maxDepth and maxDigits are the Limits the document is held to.
	maxDepth, maxDigits int
}

// scan reads the value at s.pos and reports whether it is certainly valid
// against f; depth is the number of arrays and objects around it.
func (f *fastSchema) scan(s *scanner, depth int) bool {
	if f.always != nil {
		return *f.always && s.skip(depth)
	}
	start := s.pos
	var ok bool
	switch c := s.peek(); { // const and enum are checked on scalars only: on objects and arrays, not sure
	case c == '{':
		ok = f.allows(tObject) && len(f.enums) == 0 && f.scanObject(s, depth+1)
	case c == '[':
		ok = f.allows(tArray) && len(f.enums) == 0 && f.scanArray(s, depth+1)
	case c == '"':
		v, read := s.str()
		ok = read && f.allows(tString) && f.enumsHold(v) && f.stringOK(v)
	case c == '-' || '0' <= c && c <= '9':
		lit, read := s.number()
		ok = read && f.numberTypeOK(lit) && f.enumsHold(json.Number(lit)) && f.numberOK(json.Number(lit))
	case c == 't':
		ok = s.literal("true") && f.allows(tBoolean) && f.enumsHold(true)
	case c == 'f':
		ok = s.literal("false") && f.allows(tBoolean) && f.enumsHold(false)
	case c == 'n':
		ok = s.literal("null") && f.allows(tNull) && f.enumsHold(nil)
	}
	if !ok || !f.hasApplicators() {
		return ok
	}
	end := s.pos
	ok = f.applicatorsOKJSON(s, start, depth)
	s.pos = end
	return ok
}

// allows is typeOK for every type but number, whose literal decides
// whether it is an integer.
func (f *fastSchema) allows(t typeSet) bool { return f.types == 0 || f.types&t != 0 }

func (f *fastSchema) numberTypeOK(lit string) bool {
	return f.types == 0 || f.types&tNumber != 0 || (f.types&tInteger != 0 && isIntegerLiteral(lit))
}

// enumsHold checks a scalar against const and enum, as valid does: v is a
// string, a json.Number, a bool or nil.
func (f *fastSchema) enumsHold(v any) bool {
	for _, allowed := range f.enums {
		if !anyEqual(v, allowed) {
			return false
		}
	}
	return true
}

func (f *fastSchema) hasApplicators() bool {
	return f.ref != nil || len(f.allOf) > 0 || len(f.anyOf) > 0 || len(f.oneOf) > 0 || f.not != nil || f.ifS != nil
}

// applicatorsOKJSON is applicatorsOK for the value that starts at start:
// each subschema reads it again.
func (f *fastSchema) applicatorsOKJSON(s *scanner, start, depth int) bool {
	at := func(sub *fastSchema) bool {
		s.pos = start
		return sub.scan(s, depth)
	}
	if f.ref != nil && !at(f.ref) {
		return false
	}
	for _, sub := range f.allOf {
		if !at(sub) {
			return false
		}
	}
	if len(f.anyOf) > 0 {
		matched := false
		for _, sub := range f.anyOf {
			if at(sub) {
				matched = true
				break
			}
		}
		if !matched {
			return false
		}
	}
	if len(f.oneOf) > 0 && (len(f.oneOf) != 1 || !at(f.oneOf[0])) {
		return false
	}
	if f.not != nil {
		return false
	}
	if f.ifS != nil {
		return at(f.ifS) && (f.thenS == nil || at(f.thenS))
	}
	return true
}

func (f *fastSchema) scanObject(s *scanner, depth int) bool {
	if depth > s.maxDepth || f.minProps > 0 || len(f.required) > 64 {
		return false
	}
	s.pos++ // {
	s.space()
	n, seen := 0, uint64(0)
	if s.peek() == '}' {
		s.pos++
	} else {
		var buf [4]*fastSchema
		for {
			keyStart := s.pos
			name, ok := s.key()
			if !ok {
				return false
			}
			if f.propertyNames != nil {
				sub := scanner{data: s.data[keyStart:s.pos], maxDepth: s.maxDepth, maxDigits: s.maxDigits}
				if !f.propertyNames.scan(&sub, depth) {
					return false
				}
			}
			for i, r := range f.required {
				if r == name {
					seen |= 1 << i
				}
			}
			// Every schema that applies to the value, found while name is
			// still readable.
			apply := buf[:0]
			sub, declared := f.props[name]
			if declared {
				apply = append(apply, sub)
			}
			for _, pp := range f.patternProps {
				if pp.re.MatchString(name) {
					apply = append(apply, pp.schema)
				}
			}
			if len(apply) == 0 {
				if f.noAdditional {
					return false
				}
				if f.additional != nil {
					apply = append(apply, f.additional)
				}
			}
			if !s.colon() || !s.member(apply, depth) {
				return false
			}
			n++
			if f.maxProps != -1 && n > f.maxProps { // n counts a duplicate twice, so only over the limit is sure
				return false
			}
			if !s.next('}') {
				return false
			}
			if s.data[s.pos-1] == '}' {
				break
			}
		}
	}
	return seen == 1<<len(f.required)-1
}

func (f *fastSchema) scanArray(s *scanner, depth int) bool {
	if depth > s.maxDepth {
		return false
	}
	s.pos++ // [
	s.space()
	n := 0
	if s.peek() == ']' {
		s.pos++
	} else {
		for {
			sub := f.items
			if n < len(f.prefixItems) {
				sub = f.prefixItems[n]
			}
			if sub == nil && !s.skip(depth) || sub != nil && !sub.scan(s, depth) {
				return false
			}
			n++
			if f.maxItems != -1 && n > f.maxItems {
				return false
			}
			if !s.next(']') {
				return false
			}
			if s.data[s.pos-1] == ']' {
				break
			}
		}
	}
	return f.minItems == -1 || n >= f.minItems
}

// member reads a member's value against every schema in apply, or only
// checks its syntax when none applies.
func (s *scanner) member(apply []*fastSchema, depth int) bool {
	if len(apply) == 0 {
		return s.skip(depth)
	}
	start := s.pos
	for _, sub := range apply {
		s.pos = start
		if !sub.scan(s, depth) {
			return false
		}
	}
	return true
}

// skip reads one value and reports whether it is well-formed.
func (s *scanner) skip(depth int) bool {
	switch c := s.peek(); {
	case c == '{':
		if depth+1 > s.maxDepth {
			return false
		}
		s.pos++
		s.space()
		if s.peek() == '}' {
			s.pos++
			return true
		}
		for {
			if _, ok := s.key(); !ok || !s.colon() || !s.skip(depth+1) || !s.next('}') {
				return false
			}
			if s.data[s.pos-1] == '}' {
				return true
			}
		}
	case c == '[':
		if depth+1 > s.maxDepth {
			return false
		}
		s.pos++
		s.space()
		if s.peek() == ']' {
			s.pos++
			return true
		}
		for {
			if !s.skip(depth+1) || !s.next(']') {
				return false
			}
			if s.data[s.pos-1] == ']' {
				return true
			}
		}
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '-' || '0' <= c && c <= '9':
		_, ok := s.number()
		return ok
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

func (s *scanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// key reads a member's name.
func (s *scanner) key() (string, bool) {
	if s.peek() != '"' {
		return "", false
	}
	return s.str()
}

// colon reads the ':' after a member's name and the space around it.
func (s *scanner) colon() bool {
	s.space()
	if s.peek() != ':' {
		return false
	}
	s.pos++
	s.space()
	return true
}

// next reads what follows an element: ',' and the space before the next
// one, or the closing byte, which is then s.data[s.pos-1].
func (s *scanner) next(closing byte) bool {
	s.space()
	switch s.peek() {
	case ',':
		s.pos++
		s.space()
		return true
	case closing:
		s.pos++
		return true
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if !strings.HasPrefix(view(s.data[s.pos:]), lit) {
		return false
	}
	s.pos += len(lit)
	return true
}

// number reads a number and returns its literal, as json.Number holds it;
// a number outside the numeric domain is not read.
func (s *scanner) number() (string, bool) {
	d, i := s.data, s.pos
	digits := func() bool {
		from := i
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
		return i > from
	}
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case !digits():
		return "", false
	}
	if i < len(d) && d[i] == '.' {
		i++
		if !digits() {
			return "", false
		}
	}
	exponent := false
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i, exponent = i+1, true
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if !digits() {
			return "", false
		}
	}
	lit := view(d[s.pos:i])
	// With no exponent, a number of fewer than 300 characters has no more
	// than 300 digits on either side of its point, and so is in the domain
	// if it is within the digit limit; the rest is worked out.
	if exponent || len(lit) > s.maxDigits || len(lit) > 300 {
		if ok, _ := InNumberDomain(lit, s.maxDigits); !ok {
			return "", false
		}
	}
	s.pos = i
	return lit, true
}

// plain marks the bytes that stand for themselves in a string: not '"',
// '\\', a control character or part of a multi-byte rune.
var plain = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a string and returns its value.
func (s *scanner) str() (string, bool) {
	s.pos++ // "
	ascii := true
	for i := s.pos; i < len(s.data); i++ {
		c := s.data[i]
		if plain[c] {
			continue
		}
		switch {
		case c == '"':
			raw := s.data[s.pos:i]
			s.pos = i + 1
			return view(raw), ascii || utf8.Valid(raw)
		case c == '\\':
			return s.unescape(i)
		case c < ' ':
			return "", false
		}
		ascii = false
	}
	return "", false
}

// unescape finishes str from the first backslash, at i, into s.buf.
func (s *scanner) unescape(i int) (string, bool) {
	d := s.data
	s.buf = append(s.buf[:0], d[s.pos:i]...)
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return view(s.buf), utf8.Valid(s.buf)
		case c < 0x20:
			return "", false
		case c != '\\':
			s.buf = append(s.buf, c)
			i++
			continue
		}
		if i+1 >= len(d) {
			return "", false
		}
		switch e := d[i+1]; e {
		case '"', '\\', '/':
			s.buf = append(s.buf, e)
		case 'b':
			s.buf = append(s.buf, '\b')
		case 'f':
			s.buf = append(s.buf, '\f')
		case 'n':
			s.buf = append(s.buf, '\n')
		case 'r':
			s.buf = append(s.buf, '\r')
		case 't':
			s.buf = append(s.buf, '\t')
		case 'u':
			r, ok := hex4(d[i+2:])
			if !ok || utf16.IsSurrogate(r) { // pairs and lone halves: the decoders' rules
				return "", false
			}
			s.buf = utf8.AppendRune(s.buf, r)
			i += 4
		default:
			return "", false
		}
		i += 2
	}
	return "", false
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// view is b as a string without a copy, for the scan's comparisons; it
// must not outlive b's next change.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
