package contracts

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds of the compose member (docs/contracts.md, "Composed contracts").
const (
	maxComposeSteps     = 16
	minParallelBranches = 2
	maxParallelBranches = 16
	maxBranchAttempts   = 5
	defaultMaxItems     = 100
	maxMapItems         = 1000
	defaultConcurrency  = 8
	maxMapConcurrency   = 64
)

var (
	stepNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	callPattern     = regexp.MustCompile(`^([a-z][a-z0-9_-]{0,63})/v([1-9][0-9]{0,8})$`)
	quorumPattern   = regexp.MustCompile(`^quorum\(([1-9][0-9]{0,8})\)$`)
)

// Compose is a composed contract's recipe: no worker serves the contract;
// the gateway runs its steps in order, calling other contracts, and merges
// their replies into one result.
type Compose struct {
	Steps []*Step
	// Manifest is the compose member as the manifest wrote it.
	Manifest json.RawMessage
}

// StepKind is what a step does.
type StepKind string

// The kinds of step.
const (
	// StepCall calls one contract.
	StepCall StepKind = "call"
	// StepParallel calls several contracts at once, one per branch.
	StepParallel StepKind = "parallel"
	// StepMap calls one contract once per item of an array.
	StepMap StepKind = "map"
)

// Step is one step of a composition.
type Step struct {
	Name string
	Kind StepKind
	// Branches are the calls of the step: one for a call or map step
	// (named after the step), each branch of a parallel step.
	Branches []*Branch
	// Map is where the array of a map step is, in the scope.
	Map Pointer
	// Require says how many branches (or items) must succeed.
	Require Require
	// MaxItems bounds a map step's array; Concurrency bounds how many of
	// its items are called at once.
	MaxItems, Concurrency int
}

// Branch is one call of a step.
type Branch struct {
	Name string
	// Call names the contract as the manifest wrote it: "summarize/v1".
	Call string
	// Target is the contract called; set once every contract is loaded.
	Target *Contract
	// Request says how the call's request is made from the scope.
	Request Request
	// Into is where the branch's reply goes in the result; nil: nowhere
	// (later steps may still read it in the scope).
	Into Pointer
	// Timeout bounds each attempt; 0: what is left of the deadline.
	Timeout time.Duration
	// Attempts is how many times the call is tried when it fails with a
	// 5xx outcome.
	Attempts int

	at          string // the branch's pointer in the manifest
	timeoutSecs float64
	callName    string
	callVersion int
}

// Request makes a call's request from the scope: the value at Whole, or,
// when Members is not nil, an object of the values at each member's
// pointer (a pointer that finds nothing leaves its member out).
type Request struct {
	Whole   Pointer
	Members []RequestMember
}

// RequestMember is one member of a request made from pointers.
type RequestMember struct {
	Name string
	From Pointer
}

// Require says how many of a step's branches or items must succeed for
// the composition to go on: all, any (one), or a quorum of N.
type Require struct {
	// Quorum is N of quorum(N); 0 with Any false means all.
	Quorum int
	Any    bool
}

// Met reports whether succeeded calls out of total satisfy r; a quorum
// larger than the calls made needs them all.
func (r Require) Met(succeeded, total int) bool {
	switch {
	case r.Any:
		return succeeded >= 1 || total == 0
	case r.Quorum > 0:
		return succeeded >= min(r.Quorum, total)
	default:
		return succeeded == total
	}
}

// String is the requirement as a manifest writes it.
func (r Require) String() string {
	switch {
	case r.Any:
		return "any"
	case r.Quorum > 0:
		return fmt.Sprintf("quorum(%d)", r.Quorum)
	default:
		return "all"
	}
}

// Pointer is a JSON pointer (RFC 6901) as its reference tokens.
type Pointer []string

// ParsePointer parses a JSON pointer; "" is the whole document.
func ParsePointer(s string) (Pointer, error) {
	if s == "" {
		return Pointer{}, nil
	}
	if s[0] != '/' {
		return nil, fmt.Errorf("%q does not start with /", s)
	}
	tokens := strings.Split(s[1:], "/")
	for i, t := range tokens {
		for j := 0; j < len(t); j++ {
			if t[j] == '~' && (j+1 == len(t) || (t[j+1] != '0' && t[j+1] != '1')) {
				return nil, fmt.Errorf("%q: ~ must be followed by 0 or 1", s)
			}
		}
		tokens[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(t)
	}
	return tokens, nil
}

// String writes the pointer back.
func (p Pointer) String() string {
	var b strings.Builder
	for _, t := range p {
		b.WriteString("/" + escapePointer(t))
	}
	return b.String()
}

// Resolve returns the value p points at in doc (decoded JSON: maps,
// slices and scalars), and whether there is one.
func (p Pointer) Resolve(doc any) (any, bool) {
	for _, t := range p {
		switch v := doc.(type) {
		case map[string]any:
			var ok bool
			if doc, ok = v[t]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(v) || (len(t) > 1 && t[0] == '0') {
				return nil, false
			}
			doc = v[i]
		default:
			return nil, false
		}
	}
	return doc, true
}

// hasPrefix reports whether q begins with every token of p.
func (p Pointer) hasPrefix(q Pointer) bool {
	return len(q) <= len(p) && slices.Equal(p[:len(q)], q)
}

// Composed reports whether the contract is composed at the gateway.
func (c *Contract) Composed() bool { return c.Compose != nil }

// composeReader decodes the compose member, reporting every problem at
// its own pointer.
type composeReader struct {
	file string
	out  []Finding
}

func (r *composeReader) add(ptr, format string, args ...any) {
	r.out = append(r.out, finding(r.file, ptr, format, args...))
}

// object decodes an object member, reporting each member not in allowed.
func (r *composeReader) object(ptr string, raw json.RawMessage, allowed ...string) map[string]json.RawMessage {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		r.add(ptr, "must be an object")
		return nil
	}
	r.unknown(ptr, members, allowed...)
	return members
}

// unknown reports each of members that is not in allowed.
func (r *composeReader) unknown(ptr string, members map[string]json.RawMessage, allowed ...string) {
	for _, key := range slices.Sorted(maps.Keys(members)) {
		if !slices.Contains(allowed, key) {
			r.add(ptr+"/"+escapePointer(key), "unknown field %q", key)
		}
	}
}

// value decodes member key of members into into; false when it is absent
// or of the wrong type (then reported).
func (r *composeReader) value(ptr string, members map[string]json.RawMessage, key string, into any) bool {
	raw, ok := members[key]
	if !ok {
		return false
	}
	if string(raw) == "null" { // Unmarshal would leave into as it is
		r.add(ptr+"/"+key, "must not be null")
		return false
	}
	if err := json.Unmarshal(raw, into); err != nil {
		r.add(ptr+"/"+key, "%s", typeError(err))
		return false
	}
	return true
}

// decodeCompose decodes and checks a compose member on its own; the rules
// that relate it to the rest of the manifest are composeProblems'.
func decodeCompose(file string, raw json.RawMessage) (*Compose, []Finding) {
	r := &composeReader{file: file}
	top := r.object("/compose", raw, "steps")
	if top == nil {
		return nil, r.out
	}
	var steps []json.RawMessage
	if _, ok := top["steps"]; !ok {
		r.add("/compose/steps", "missing: a composition has at least one step")
		return &Compose{}, r.out
	}
	if !r.value("/compose", top, "steps", &steps) {
		return &Compose{}, r.out
	}
	if len(steps) < 1 || len(steps) > maxComposeSteps {
		r.add("/compose/steps", "has %d steps; a composition has 1 to %d", len(steps), maxComposeSteps)
	}
	comp := &Compose{Manifest: raw}
	declared := map[string]bool{}
	var intos []*Branch
	for i, rawStep := range steps {
		at := fmt.Sprintf("/compose/steps/%d", i)
		s := r.step(at, rawStep, declared)
		if s == nil {
			continue
		}
		comp.Steps = append(comp.Steps, s)
		for _, b := range s.Branches {
			if b.Into == nil {
				continue
			}
			for _, earlier := range intos {
				if b.Into.hasPrefix(earlier.Into) || earlier.Into.hasPrefix(b.Into) {
					r.add(b.at+"/into", "%q overlaps the into %q of %s", b.Into.String(), earlier.Into.String(), earlier.at)
					break
				}
			}
			intos = append(intos, b)
		}
	}
	return comp, r.out
}

// step decodes one step; declared holds the names of the steps before it,
// and gets this one's.
func (r *composeReader) step(at string, raw json.RawMessage, declared map[string]bool) *Step {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		r.add(at, "a step must be an object")
		return nil
	}
	s := &Step{Concurrency: defaultConcurrency, MaxItems: defaultMaxItems}
	if _, ok := members["name"]; !ok {
		r.add(at+"/name", "missing")
	} else if r.value(at, members, "name", &s.Name) {
		switch {
		case !stepNamePattern.MatchString(s.Name):
			r.add(at+"/name", "%q must match %s", s.Name, stepNamePattern)
		case declared[s.Name]:
			r.add(at+"/name", "%q names an earlier step too", s.Name)
		}
	}
	scope := func(item bool) scopeRules { return scopeRules{earlier: maps.Clone(declared), item: item} }
	defer func() { declared[s.Name] = true }()
	_, hasMap := members["map"]
	_, hasParallel := members["parallel"]
	_, hasCall := members["call"]
	switch {
	case hasMap && hasParallel, hasParallel && hasCall, !hasMap && !hasParallel && !hasCall:
		r.add(at, "a step has one of call, parallel and map (a map step calls its call once per item)")
		return nil
	case hasMap:
		s.Kind = StepMap
	case hasParallel:
		s.Kind = StepParallel
	default:
		s.Kind = StepCall
	}
	switch s.Kind {
	case StepCall:
		r.unknown(at, members, "name", "call", "request", "into", "timeout_seconds", "attempts")
		s.Branches = []*Branch{r.branch(at, s.Name, members, scope(false), "/request")}
	case StepParallel:
		r.unknown(at, members, "name", "parallel", "require")
		var branches []json.RawMessage
		if r.value(at, members, "parallel", &branches) {
			if len(branches) < minParallelBranches || len(branches) > maxParallelBranches {
				r.add(at+"/parallel", "has %d branches; a parallel step has %d to %d", len(branches), minParallelBranches, maxParallelBranches)
			}
			names := map[string]bool{}
			for j, rawBranch := range branches {
				bat := fmt.Sprintf("%s/parallel/%d", at, j)
				bm := r.object(bat, rawBranch, "name", "call", "request", "into", "timeout_seconds", "attempts")
				if bm == nil {
					continue
				}
				var name string
				if _, ok := bm["name"]; !ok {
					r.add(bat+"/name", "missing")
				} else if r.value(bat, bm, "name", &name) {
					switch {
					case !stepNamePattern.MatchString(name):
						r.add(bat+"/name", "%q must match %s", name, stepNamePattern)
					case names[name]:
						r.add(bat+"/name", "%q names an earlier branch of this step too", name)
					}
					names[name] = true
				}
				s.Branches = append(s.Branches, r.branch(bat, name, bm, scope(false), "/request"))
			}
		}
		s.Require = r.require(at, members, len(branches))
	case StepMap:
		r.unknown(at, members, "name", "map", "call", "request", "into", "require", "max_items", "concurrency", "timeout_seconds", "attempts")
		var src string
		if r.value(at, members, "map", &src) {
			s.Map = r.pointer(at+"/map", src, scope(false))
		}
		s.Branches = []*Branch{r.branch(at, s.Name, members, scope(true), "/item")}
		s.Require = r.require(at, members, 0)
		if r.value(at, members, "max_items", &s.MaxItems) && (s.MaxItems < 1 || s.MaxItems > maxMapItems) {
			r.add(at+"/max_items", "%d must be >= 1 and <= %d", s.MaxItems, maxMapItems)
		}
		if r.value(at, members, "concurrency", &s.Concurrency) && (s.Concurrency < 1 || s.Concurrency > maxMapConcurrency) {
			r.add(at+"/concurrency", "%d must be >= 1 and <= %d", s.Concurrency, maxMapConcurrency)
		}
	}
	return s
}

// branch decodes the members of one call: a call step, a branch of a
// parallel step or a map step.
func (r *composeReader) branch(at, name string, members map[string]json.RawMessage, scope scopeRules, defaultRequest string) *Branch {
	b := &Branch{Name: name, Attempts: 1, at: at}
	if _, ok := members["call"]; !ok {
		r.add(at+"/call", "missing: the contract to call, as name/vN")
	} else if r.value(at, members, "call", &b.Call) {
		m := callPattern.FindStringSubmatch(b.Call)
		if m == nil {
			r.add(at+"/call", "%q must name a contract and its major version, as summarize/v1", b.Call)
		} else {
			b.callName = m[1]
			b.callVersion, _ = strconv.Atoi(m[2])
		}
	}
	b.Request.Whole, _ = ParsePointer(defaultRequest)
	if raw, ok := members["request"]; ok {
		b.Request = r.request(at+"/request", raw, scope)
	}
	var into string
	if r.value(at, members, "into", &into) {
		p, err := ParsePointer(into)
		switch {
		case err != nil:
			r.add(at+"/into", "%v", err)
		case len(p) == 0:
			r.add(at+"/into", "must point at a member of the result, not the whole result")
		default:
			b.Into = p
		}
	}
	if r.value(at, members, "timeout_seconds", &b.timeoutSecs) {
		if b.timeoutSecs <= 0 {
			r.add(at+"/timeout_seconds", "%v must be > 0", b.timeoutSecs)
		}
		b.Timeout = time.Duration(b.timeoutSecs * float64(time.Second))
	}
	if r.value(at, members, "attempts", &b.Attempts) && (b.Attempts < 1 || b.Attempts > maxBranchAttempts) {
		r.add(at+"/attempts", "%d must be >= 1 and <= %d", b.Attempts, maxBranchAttempts)
	}
	return b
}

// request decodes a request member: one pointer, or an object of them.
func (r *composeReader) request(at string, raw json.RawMessage, scope scopeRules) Request {
	var whole string
	if json.Unmarshal(raw, &whole) == nil {
		return Request{Whole: r.pointer(at, whole, scope)}
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		r.add(at, "must be a pointer, or an object of pointers")
		return Request{}
	}
	req := Request{Members: []RequestMember{}}
	for _, key := range slices.Sorted(maps.Keys(members)) {
		mat := at + "/" + escapePointer(key)
		var from string
		if err := json.Unmarshal(members[key], &from); err != nil {
			r.add(mat, "must be a pointer (a string)")
			continue
		}
		req.Members = append(req.Members, RequestMember{Name: key, From: r.pointer(mat, from, scope)})
	}
	return req
}

// scopeRules say what a pointer into the scope may reach.
type scopeRules struct {
	earlier map[string]bool // the steps before this one
	item    bool            // a map step's request: /item too
}

// pointer parses a pointer into the scope and checks that it reaches the
// request, an earlier step's result or, in a map step's request, its item.
func (r *composeReader) pointer(at, s string, scope scopeRules) Pointer {
	p, err := ParsePointer(s)
	if err != nil {
		r.add(at, "%v", err)
		return nil
	}
	switch {
	case len(p) > 0 && p[0] == "request":
	case len(p) > 0 && p[0] == "item" && scope.item:
	case len(p) > 1 && p[0] == "steps" && scope.earlier[p[1]]:
	case len(p) > 1 && p[0] == "steps":
		r.add(at, "%q: no earlier step is named %q", s, p[1])
		return nil
	default:
		reach := "/request or /steps/<an earlier step>"
		if scope.item {
			reach += " or /item"
		}
		r.add(at, "%q must start with %s", s, reach)
		return nil
	}
	return p
}

// require decodes a step's require member; branches bounds a quorum (0:
// no bound, as for a map step).
func (r *composeReader) require(at string, members map[string]json.RawMessage, branches int) Require {
	var s string
	if !r.value(at, members, "require", &s) {
		return Require{}
	}
	switch s {
	case "all":
		return Require{}
	case "any":
		return Require{Any: true}
	}
	m := quorumPattern.FindStringSubmatch(s)
	if m == nil {
		r.add(at+"/require", "%q must be all, any or quorum(N)", s)
		return Require{}
	}
	n, _ := strconv.Atoi(m[1])
	if branches > 0 && n > branches {
		r.add(at+"/require", "%s needs more branches than the step's %d", s, branches)
	}
	return Require{Quorum: n}
}

// composeProblems returns how the compose member breaks the rules that
// relate it to the rest of the manifest.
func (m *manifest) composeProblems(add func(ptr, format string, args ...any)) {
	if m.Compose == nil {
		return
	}
	if m.Mode != ModeSync && m.Mode != ModeJob {
		add("/compose", "a %q contract cannot be composed; use mode %q or %q", m.Mode, ModeSync, ModeJob)
	}
	if m.Repair != nil {
		add("/repair", "a composed contract has no worker to repair its reply; declare repair on the contracts it calls")
	}
	if m.Cache != nil {
		add("/cache", "a composed contract's reply is not cached; declare cache on the contracts it calls")
	}
	limit := maxTimeout
	if m.Mode == ModeJob {
		limit = maxJobTimeout
	}
	if m.TimeoutSeconds <= 0 || m.TimeoutSeconds > limit.Seconds() {
		return // the contract's own timeout is reported; no bound to hold branches to
	}
	for _, s := range m.Compose.Steps {
		for _, b := range s.Branches {
			if b.timeoutSecs > m.TimeoutSeconds {
				add(b.at+"/timeout_seconds", "%v must be <= the contract's timeout_seconds (%v)", b.timeoutSecs, m.TimeoutSeconds)
			}
		}
	}
}

// resolveCompose finds the contract each branch of c calls among the
// worker-served contracts of reg; composed holds the composed contracts,
// which may not be called.
func resolveCompose(reg *Registry, c *Contract, composed []*Contract) []Finding {
	var out []Finding
	for _, s := range c.Compose.Steps {
		for _, b := range s.Branches {
			if b.callName == "" {
				continue
			}
			target, err := reg.Lookup(b.callName, b.callVersion)
			switch {
			case isComposed(composed, b.callName, b.callVersion):
				out = append(out, finding(c.ManifestFile, b.at+"/call", "%s is composed too; a composition calls contracts that workers serve", b.Call))
			case err != nil:
				out = append(out, finding(c.ManifestFile, b.at+"/call", "%v", err))
			case target.Mode != ModeSync:
				out = append(out, finding(c.ManifestFile, b.at+"/call", "%s is a %s contract; a composition calls sync contracts", b.Call, target.Mode))
			default:
				b.Target = target
			}
		}
	}
	return out
}

func isComposed(composed []*Contract, name string, version int) bool {
	for _, c := range composed {
		if c.Name == name && c.Version == version {
			return true
		}
	}
	return false
}
