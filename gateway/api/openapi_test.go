package api_test

import (
	"bufio"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/notebridge/notebridge/gateway/api"
	"github.com/notebridge/notebridge/gateway/contracts"
)

// openAPIDoc fetches GET /openapi.json and decodes it.
func openAPIDoc(t *testing.T, g *gateway) (map[string]any, []byte) {
	t.Helper()
	r := g.do(t, "GET", "/openapi.json", "")
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %s; want 200 application/json", r.status, r.header.Get("Content-Type"))
	}
	var doc map[string]any
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	return doc, r.body
}

func TestOpenAPICoversEveryRoute(t *testing.T) {
	g := newGateway(t)
	doc, _ := openAPIDoc(t, g)
	paths := doc["paths"].(map[string]any)

	// Every route the app serves has a documented path...
	seen := map[string]bool{}
	for _, rt := range g.app.GetRoutes(true) {
		if rt.Path == "/" || seen[rt.Path] {
			continue
		}
		seen[rt.Path] = true
		t.Run("route "+rt.Path, func(t *testing.T) {
			for p := range paths {
				if matches(rt.Path, p) {
					return
				}
			}
			t.Errorf("route %s has no path in the document", rt.Path)
		})
	}
	// ...and every documented operation is served.
	for p, item := range paths {
		for method := range item.(map[string]any) {
			if method == "summary" {
				continue
			}
			t.Run(strings.ToUpper(method)+" "+p, func(t *testing.T) {
				r := g.do(t, strings.ToUpper(method), p, `{}`, "Content-Type", jsonCT)
				if r.status == 404 || r.status == 405 {
					t.Errorf("got %d; want the route to exist", r.status)
				}
			})
		}
	}
}

// matches reports whether a Fiber route (":name" segments) covers an
// OpenAPI path.
func matches(route, path string) bool {
	rs, ps := strings.Split(route, "/"), strings.Split(path, "/")
	if len(rs) != len(ps) {
		return false
	}
	for i := range rs {
		if !strings.HasPrefix(rs[i], ":") && rs[i] != ps[i] {
			return false
		}
	}
	return true
}

func TestOpenAPIDocument(t *testing.T) {
	g := newGateway(t)
	doc, raw := openAPIDoc(t, g)
	if doc["openapi"] != "3.1.0" || doc["jsonSchemaDialect"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("got openapi %v dialect %v; want 3.1.0 and draft 2020-12", doc["openapi"], doc["jsonSchemaDialect"])
	}
	for _, p := range []string{"/healthz", "/readyz", "/api", "/openapi.json", "/docs", "/api/echo", "/api/echo/v1", "/api/echo/v2"} {
		if _, ok := doc["paths"].(map[string]any)[p]; !ok {
			t.Errorf("paths lack %s", p)
		}
	}
	post := func(path string) map[string]any {
		return doc["paths"].(map[string]any)[path].(map[string]any)["post"].(map[string]any)
	}
	if post("/api/echo/v2")["deprecated"] != true || post("/api/echo/v1")["deprecated"] != nil {
		t.Errorf("deprecated: v1 %v, v2 %v; want only v2", post("/api/echo/v1")["deprecated"], post("/api/echo/v2")["deprecated"])
	}
	body := post("/api/echo/v1")["requestBody"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)
	if ref := body["schema"].(map[string]any)["$ref"]; ref != "#/components/schemas/echo.request" {
		t.Errorf("request schema = %v; want #/components/schemas/echo.request", ref)
	}
	if n := len(body["examples"].(map[string]any)); n != 2 {
		t.Errorf("got %d request examples; want 2", n)
	}
	responses := post("/api/echo/v1")["responses"].(map[string]any)
	for _, status := range []string{"200", "400", "404", "413", "415", "422", "502", "503", "504"} {
		if _, ok := responses[status]; !ok {
			t.Errorf("POST /api/echo/v1 does not document %s", status)
		}
	}
	problem := resolve(t, doc, "#/components/responses/InvalidRequest").(map[string]any)["content"].(map[string]any)["application/problem+json"].(map[string]any)
	if problem["schema"].(map[string]any)["$ref"] != "#/components/schemas/Problem" {
		t.Errorf("422 schema = %v; want the shared Problem", problem["schema"])
	}
	if !strings.Contains(string(raw), `12345678901234567890.125`) {
		t.Error("the example number lost digits on the way into the document")
	}
	// Every $ref points inside the document.
	walkRefs(doc, func(ref string) {
		if resolve(t, doc, ref) == nil {
			t.Errorf("$ref %s resolves to nothing", ref)
		}
	})
}

// The bundled schemas must mean what the contract files mean: the
// example contracts $ref a shared file from a sibling directory.
func TestOpenAPISchemasValidateLikeTheContracts(t *testing.T) {
	reg, err := contracts.Load("../../contracts", "../../testdata/contracts")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := api.OpenAPI(reg, api.DocOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	compiler := contracts.NewCompiler()
	if err := compiler.AddResource("https://notebridge.invalid/openapi.json", strings.NewReader(string(raw))); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		component string
		instance  string
		valid     bool
	}{
		{"schemas.sentiment.request.v1", `{"text": "fine"}`, true},
		{"schemas.sentiment.request.v1", `{"text": ""}`, false}, // minLength from ../common.json
		{"schemas.sentiment.request.v1", `{"text": "` + strings.Repeat("é", 5001) + `"}`, false},
		{"schemas.sentiment.response.v1", `{"label": "positive", "confidence": 0.5}`, true},
		{"schemas.sentiment.response.v1", `{"label": "positive", "confidence": 1.5}`, false},
		{"schemas.summarize.request.v1", `{"text": "a", "max_sentences": 21}`, false},
		{"testdata.schemas.echo.request", `{"text": "` + strings.Repeat("a", 65) + `"}`, false}, // defs.json
		{"testdata.schemas.echo.request", `{"text": "a", "n": 12345678901234567890.125}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.component+" "+tt.instance[:min(len(tt.instance), 30)], func(t *testing.T) {
			s, err := compiler.Compile("https://notebridge.invalid/openapi.json#/components/schemas/" + url.PathEscape(tt.component))
			if err != nil {
				t.Fatal(err)
			}
			v, err := contracts.DecodeJSON([]byte(tt.instance))
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Validate(v) == nil; got != tt.valid {
				t.Errorf("got valid %v; want %v", got, tt.valid)
			}
		})
	}
}

func walkRefs(v any, f func(string)) {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			f(ref)
		}
		for _, c := range v {
			walkRefs(c, f)
		}
	case []any:
		for _, c := range v {
			walkRefs(c, f)
		}
	}
}

// resolve follows a local $ref ("#/a/b") in doc.
func resolve(t *testing.T, doc any, ref string) any {
	t.Helper()
	if !strings.HasPrefix(ref, "#/") {
		t.Fatalf("$ref %s is not local", ref)
	}
	cur := doc
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[tok]
	}
	return cur
}

// What the gateway answers must be what its document says: a member the
// describe route adds, and the document does not, fails here.
func TestLiveResponsesMatchTheDocument(t *testing.T) {
	g := newGateway(t)
	_, raw := openAPIDoc(t, g)
	compiler := contracts.NewCompiler()
	if err := compiler.AddResource("https://notebridge.invalid/openapi.json", strings.NewReader(string(raw))); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, component string
	}{
		{"/api/echo/v1", "ContractVersion"},   // sync
		{"/api/tokens/v1", "ContractVersion"}, // stream: chunk_schema, merge, idle_timeout_seconds
		{"/api", "Catalog"},
		{"/api/nope/v1", "Problem"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			s, err := compiler.Compile("https://notebridge.invalid/openapi.json#/components/schemas/" + tt.component)
			if err != nil {
				t.Fatal(err)
			}
			r := g.do(t, "GET", tt.path, "")
			v, err := contracts.DecodeJSON(r.body)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(v); err != nil {
				t.Errorf("GET %s (%d) does not match %s: %v\n%s", tt.path, r.status, tt.component, err, r.body)
			}
		})
	}
	// The check is not vacuous: a member the document does not name fails it.
	s, err := compiler.Compile("https://notebridge.invalid/openapi.json#/components/schemas/ContractVersion")
	if err != nil {
		t.Fatal(err)
	}
	r := g.do(t, "GET", "/api/echo/v1", "")
	var described map[string]any
	if err := json.Unmarshal(r.body, &described); err != nil {
		t.Fatal(err)
	}
	described["undocumented"] = 1
	if err := s.Validate(described); err == nil {
		t.Error("a describe response with an undocumented member matches ContractVersion; want it refused")
	}
}

// Each Server-Sent Event of a stream, parsed, is what the document's
// text/event-stream schema says: chunk events carry chunks, the last event
// an end or a problem.
func TestLiveStreamEventsMatchTheDocument(t *testing.T) {
	g := newGatewayWith(t, streamContracts(t))
	g.serve(t, "tokens", []int{1})
	base := g.listen(t)
	_, raw := openAPIDoc(t, g)
	compiler := contracts.NewCompiler()
	if err := compiler.AddResource("https://notebridge.invalid/openapi.json", strings.NewReader(string(raw))); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	media := resolve(t, doc, "#/paths/~1api~1tokens~1v1/post/responses/200/content/text~1event-stream/schema")
	ref, _ := media.(map[string]any)["$ref"].(string)
	if ref != "#/components/schemas/tokens.v1.event" {
		t.Fatalf("text/event-stream schema = %v; want a $ref to tokens.v1.event", media)
	}
	event, err := compiler.Compile("https://notebridge.invalid/openapi.json" + ref)
	if err != nil {
		t.Fatal(err)
	}
	parsed := func(t *testing.T, ev sseEvent) map[string]any {
		t.Helper()
		data, err := contracts.DecodeJSON([]byte(ev.data))
		if err != nil {
			t.Fatalf("event data %q: %v", ev.data, err)
		}
		out := map[string]any{"event": ev.name, "data": data}
		if ev.id != "" {
			out["id"] = ev.id
		}
		return out
	}
	tests := []struct {
		name, body string
		events     []string
	}{
		{"ends", `{"text": "a b"}`, []string{"chunk", "chunk", "end"}},
		{"fails", `{"text": "a b c", "behavior": "fail"}`, []string{"chunk", "error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := openSSE(t, base+"/api/tokens/v1", tt.body)
			defer resp.Body.Close()
			r := bufio.NewReader(resp.Body)
			for i, want := range tt.events {
				ev := readEvent(t, r)
				if ev.name != want {
					t.Fatalf("event %d = %+v; want %s", i, ev, want)
				}
				if err := event.Validate(parsed(t, ev)); err != nil {
					t.Errorf("event %d %+v does not match %s: %v", i, ev, ref, err)
				}
			}
		})
	}
	// Not vacuous: a chunk event carrying a problem is refused.
	wrong := parsed(t, sseEvent{name: "chunk", id: "0", data: `{"type": "urn:notebridge:problem:internal", "title": "x", "status": 500}`})
	if err := event.Validate(wrong); err == nil {
		t.Error("a chunk event with a problem for data matches the event schema; want it refused")
	}
}
