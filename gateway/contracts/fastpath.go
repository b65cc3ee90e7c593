package contracts

import (
	"encoding/json"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// A fastSchema answers one question about a value, "is it certainly
// valid?", without building errors, formatting messages or allocating in
// the common case. It is compiled from jsonschema/v5's own compiled schema,
// so both read the same $refs, patterns and bounds.
//
// The answer false only means "ask v5": Contract.ValidateX then runs the
// full validator, which decides and says why. So the fast path may be
// conservative anywhere, and must be exact only when it says true;
// fastpath_test.go checks it against v5 on many instances.
type fastSchema struct {
	always *bool
	types  typeSet
	// const and enum: the allowed values (const is an enum of one).
	enums [][]any

	minProps, maxProps int
	required           []string
	props              map[string]*fastSchema
	patternProps       []patternProp
	additional         *fastSchema // nil: anything; see noAdditional
	noAdditional       bool
	propertyNames      *fastSchema

	minItems, maxItems int
	prefixItems        []*fastSchema
	items              *fastSchema

	minLength, maxLength int
	pattern              *regexp.Regexp

	minimum, exclusiveMinimum, maximum, exclusiveMaximum *bound
	multipleOf                                           *big.Rat

	ref               *fastSchema
	allOf, anyOf      []*fastSchema
	oneOf             []*fastSchema
	not               *fastSchema
	ifS, thenS, elseS *fastSchema
}

type patternProp struct {
	re     *regexp.Regexp
	schema *fastSchema
}

// bound is a numeric limit, exact and as the nearest float64.
type bound struct {
	exact *big.Rat
	f     float64
}

type typeSet uint8

const (
	tNull typeSet = 1 << iota
	tBoolean
	tObject
	tArray
	tNumber
	tString
	tInteger
)

var typeNames = map[string]typeSet{
	"null": tNull, "boolean": tBoolean, "object": tObject, "array": tArray,
	"number": tNumber, "string": tString, "integer": tInteger,
}

// compileFast returns the fast path of s, or nil when s uses a keyword the
// fast path does not implement (the full validator then always runs).
func compileFast(s *jsonschema.Schema) *fastSchema {
	fc := fastCompiler{memo: map[*jsonschema.Schema]*fastSchema{}}
	f := fc.compile(s)
	if fc.unsupported {
		return nil
	}
	return f
}

type fastCompiler struct {
	memo        map[*jsonschema.Schema]*fastSchema // also ends $ref cycles
	unsupported bool
}

func (fc *fastCompiler) compile(s *jsonschema.Schema) *fastSchema {
	if s == nil {
		return nil
	}
	if f, ok := fc.memo[s]; ok {
		return f
	}
	f := &fastSchema{}
	fc.memo[s] = f
	if usesUnsupported(s) {
		fc.unsupported = true
		return f
	}
	f.always = s.Always
	for _, t := range s.Types {
		f.types |= typeNames[t]
	}
	if len(s.Constant) > 0 {
		f.enums = append(f.enums, s.Constant[:1])
	}
	if len(s.Enum) > 0 {
		f.enums = append(f.enums, s.Enum)
	}

	f.minProps, f.maxProps, f.required = s.MinProperties, s.MaxProperties, s.Required
	if len(s.Properties) > 0 {
		f.props = make(map[string]*fastSchema, len(s.Properties))
		for name, sub := range s.Properties {
			f.props[name] = fc.compile(sub)
		}
	}
	for re, sub := range s.PatternProperties {
		f.patternProps = append(f.patternProps, patternProp{re, fc.compile(sub)})
	}
	switch ap := s.AdditionalProperties.(type) {
	case bool:
		f.noAdditional = !ap
	case *jsonschema.Schema:
		f.additional = fc.compile(ap)
	}
	f.propertyNames = fc.compile(s.PropertyNames)

	f.minItems, f.maxItems = s.MinItems, s.MaxItems
	for _, sub := range s.PrefixItems {
		f.prefixItems = append(f.prefixItems, fc.compile(sub))
	}
	f.items = fc.compile(s.Items2020)

	f.minLength, f.maxLength, f.pattern = s.MinLength, s.MaxLength, s.Pattern

	f.minimum, f.exclusiveMinimum = newBound(s.Minimum), newBound(s.ExclusiveMinimum)
	f.maximum, f.exclusiveMaximum = newBound(s.Maximum), newBound(s.ExclusiveMaximum)
	f.multipleOf = s.MultipleOf

	f.ref = fc.compile(s.Ref)
	f.allOf, f.anyOf, f.oneOf = fc.compileAll(s.AllOf), fc.compileAll(s.AnyOf), fc.compileAll(s.OneOf)
	f.not = fc.compile(s.Not)
	f.ifS, f.thenS, f.elseS = fc.compile(s.If), fc.compile(s.Then), fc.compile(s.Else)
	return f
}

func (fc *fastCompiler) compileAll(ss []*jsonschema.Schema) []*fastSchema {
	var out []*fastSchema
	for _, s := range ss {
		out = append(out, fc.compile(s))
	}
	return out
}

// usesUnsupported lists what the fast path leaves to v5: keywords whose
// result depends on what other keywords evaluated, older drafts' forms,
// and the rarely used rest.
func usesUnsupported(s *jsonschema.Schema) bool {
	return s.RecursiveRef != nil || s.DynamicRef != nil ||
		s.UnevaluatedProperties != nil || s.UnevaluatedItems != nil ||
		s.Items != nil || s.AdditionalItems != nil || s.Contains != nil || s.UniqueItems ||
		len(s.Dependencies) > 0 || len(s.DependentRequired) > 0 || len(s.DependentSchemas) > 0 ||
		s.RegexProperties || s.ContentEncoding != "" || s.ContentMediaType != "" || s.ContentSchema != nil ||
		len(s.Extensions) > 0
}

func newBound(r *big.Rat) *bound {
	if r == nil {
		return nil
	}
	f, _ := r.Float64()
	return &bound{exact: r, f: f}
}

// valid reports whether v is certainly valid; v is a value decoded by
// DecodeJSON (json.Number for numbers).
func (f *fastSchema) valid(v any) bool {
	if f.always != nil {
		return *f.always
	}
	if f.types != 0 && !f.typeOK(v) {
		return false
	}
	for _, allowed := range f.enums {
		if !anyEqual(v, allowed) {
			return false
		}
	}
	switch v := v.(type) {
	case map[string]any:
		if !f.objectOK(v) {
			return false
		}
	case []any:
		if !f.arrayOK(v) {
			return false
		}
	case string:
		if !f.stringOK(v) {
			return false
		}
	case json.Number:
		if !f.numberOK(v) {
			return false
		}
	case nil, bool:
	default: // not a DecodeJSON value: leave it to v5
		return false
	}
	return f.applicatorsOK(v)
}

func (f *fastSchema) typeOK(v any) bool {
	switch v := v.(type) {
	case nil:
		return f.types&tNull != 0
	case bool:
		return f.types&tBoolean != 0
	case map[string]any:
		return f.types&tObject != 0
	case []any:
		return f.types&tArray != 0
	case string:
		return f.types&tString != 0
	case json.Number:
		return f.types&tNumber != 0 || (f.types&tInteger != 0 && isIntegerLiteral(string(v)))
	}
	return false
}

func (f *fastSchema) objectOK(v map[string]any) bool {
	if (f.minProps != -1 && len(v) < f.minProps) || (f.maxProps != -1 && len(v) > f.maxProps) {
		return false
	}
	for _, name := range f.required {
		if _, ok := v[name]; !ok {
			return false
		}
	}
	for name, value := range v {
		if f.propertyNames != nil && !f.propertyNames.valid(name) {
			return false
		}
		sub, declared := f.props[name]
		if declared && !sub.valid(value) {
			return false
		}
		matched := false
		for _, pp := range f.patternProps {
			if pp.re.MatchString(name) {
				matched = true
				if !pp.schema.valid(value) {
					return false
				}
			}
		}
		if declared || matched {
			continue
		}
		if f.noAdditional || (f.additional != nil && !f.additional.valid(value)) {
			return false
		}
	}
	return true
}

func (f *fastSchema) arrayOK(v []any) bool {
	if (f.minItems != -1 && len(v) < f.minItems) || (f.maxItems != -1 && len(v) > f.maxItems) {
		return false
	}
	for i, item := range v {
		switch {
		case i < len(f.prefixItems):
			if !f.prefixItems[i].valid(item) {
				return false
			}
		case f.items != nil:
			if !f.items.valid(item) {
				return false
			}
		}
	}
	return true
}

func (f *fastSchema) stringOK(v string) bool {
	// A string has no more runes than bytes: only a minimum, or a maximum
	// below its length in bytes, needs them counted.
	if f.minLength > 0 || (f.maxLength != -1 && len(v) > f.maxLength) {
		n := utf8.RuneCountInString(v)
		if (f.minLength != -1 && n < f.minLength) || (f.maxLength != -1 && n > f.maxLength) {
			return false
		}
	}
	return f.pattern == nil || f.pattern.MatchString(v)
}

func (f *fastSchema) numberOK(v json.Number) bool {
	lit := string(v)
	if f.minimum != nil || f.exclusiveMinimum != nil || f.maximum != nil || f.exclusiveMaximum != nil {
		x, err := strconv.ParseFloat(lit, 64) // once for every bound
		if err != nil {
			return false
		}
		if !within(lit, x, f.minimum, 0, 1) || !within(lit, x, f.exclusiveMinimum, 1, 1) ||
			!within(lit, x, f.maximum, -1, 0) || !within(lit, x, f.exclusiveMaximum, -1, -1) {
			return false
		}
	}
	if f.multipleOf != nil {
		r, ok := new(big.Rat).SetString(string(v))
		if !ok || !new(big.Rat).Quo(r, f.multipleOf).IsInt() {
			return false
		}
	}
	return true
}

// within says whether lit, which is x as a float64, compares to b as
// lo <= cmp <= hi; no bound is no limit.
func within(lit string, x float64, b *bound, lo, hi int) bool {
	if b == nil {
		return true
	}
	cmp, known := compareNumber(lit, x, b)
	return known && lo <= cmp && cmp <= hi
}

func (f *fastSchema) applicatorsOK(v any) bool {
	if f.ref != nil && !f.ref.valid(v) {
		return false
	}
	for _, s := range f.allOf {
		if !s.valid(v) {
			return false
		}
	}
	if len(f.anyOf) > 0 && !anyValid(f.anyOf, v) {
		return false
	}
	// "Exactly one branch" needs the other branches proven invalid, which
	// the fast path cannot do: it decides only a oneOf of one branch.
	if len(f.oneOf) > 0 && (len(f.oneOf) != 1 || !f.oneOf[0].valid(v)) {
		return false
	}
	if f.not != nil {
		return false // "not valid" is a claim the fast path cannot make
	}
	if f.ifS != nil {
		if f.ifS.valid(v) {
			return f.thenS == nil || f.thenS.valid(v)
		}
		return false // the if branch may be valid for v5 all the same
	}
	return true
}

func anyValid(ss []*fastSchema, v any) bool {
	for _, s := range ss {
		if s.valid(v) {
			return true
		}
	}
	return false
}

// isIntegerLiteral says whether a JSON number is an integer without
// arithmetic: digits, or digits and a fraction of zeros ("1.0" is an
// integer in JSON Schema). Exponents are left to v5.
func isIntegerLiteral(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if intPart == "" || strings.ContainsAny(s, "eE") {
		return false
	}
	if hasFrac && strings.Trim(frac, "0") != "" {
		return false
	}
	return true
}

// compareNumber compares a JSON number, lit or x as the nearest float64,
// with a bound: -1, 0 or 1, and whether the answer is known. Rounding to
// float64 is monotonic, so when the two floats differ their order is the
// exact order; only a tie needs exact arithmetic.
func compareNumber(lit string, x float64, b *bound) (int, bool) {
	switch {
	case x < b.f:
		return -1, true
	case x > b.f:
		return 1, true
	}
	r, ok := new(big.Rat).SetString(lit)
	if !ok {
		return 0, false
	}
	return r.Cmp(b.exact), true
}

func anyEqual(v any, allowed []any) bool {
	for _, a := range allowed {
		if equalJSON(v, a) {
			return true
		}
	}
	return false
}

// equalJSON is JSON equality: numbers by value, objects regardless of
// member order. Values it cannot compare count as unequal (v5 decides).
func equalJSON(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		bb, ok := b.(bool)
		return ok && a == bb
	case string:
		bs, ok := b.(string)
		return ok && a == bs
	case json.Number:
		bn, ok := b.(json.Number)
		if !ok {
			return false
		}
		if a == bn {
			return true
		}
		ra, okA := new(big.Rat).SetString(string(a))
		rb, okB := new(big.Rat).SetString(string(bn))
		return okA && okB && ra.Cmp(rb) == 0
	case []any:
		bs, ok := b.([]any)
		if !ok || len(a) != len(bs) {
			return false
		}
		for i := range a {
			if !equalJSON(a[i], bs[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, av := range a {
			bv, ok := bm[k]
			if !ok || !equalJSON(av, bv) {
				return false
			}
		}
		return true
	}
	return false
}
