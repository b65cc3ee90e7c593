package api_test

import (
	"encoding/json"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// TestRequestTimeoutHeader runs one table through the gateway and through
// the schema GET /openapi.json gives the header, so that the two agree: a
// positive decimal of at most 16 characters, at least 0.001 seconds.
func TestRequestTimeoutHeader(t *testing.T) {
	g := newGateway(t)
	g.serveEcho(t, []int{1})
	doc, _ := openAPIDoc(t, g)
	param := doc["components"].(map[string]any)["parameters"].(map[string]any)["RequestTimeout"].(map[string]any)
	raw, err := json.Marshal(param["schema"])
	if err != nil {
		t.Fatal(err)
	}
	schema, err := jsonschema.CompileString("request-timeout.json", string(raw))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		value string
		ok    bool
	}{
		{"2", true}, {"0.5", true}, {"100", true}, {"1.25", true}, {"0.001", true}, {"0.0010", true},
		{"00.5", true}, {"007", true}, {"0.0019", true}, {"1234567890123456", true},
		{"0", false}, {"0.0", false}, {"0.000", false}, {"0.0009", false}, {"0.00099999999999", false},
		{"Inf", false}, {"+Inf", false}, {"NaN", false}, {"1_0", false}, {"+2", false}, {"-1", false},
		{"1e-300", false}, {"1e3", false}, {"0x1p-2", false}, {".5", false}, {"5.", false}, {"1.2.3", false},
		{"2 5", false}, {"2s", false}, {"soon", false}, {"12345678901234567", false},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			if err := schema.Validate(tt.value); (err == nil) != tt.ok {
				t.Errorf("OpenAPI schema %s: valid %v; want %v", raw, err == nil, tt.ok)
			}
			r := g.do(t, "POST", "/api/echo/v1", `{"text": "a"}`, "Content-Type", jsonCT, "Request-Timeout", tt.value)
			if got := r.status != 400; got != tt.ok {
				t.Fatalf("gateway: got %d; want %s (body %s)", r.status, map[bool]string{true: "it accepted", false: "400"}[tt.ok], r.body)
			}
			if !tt.ok {
				if p := r.problem(t); p["type"] != "urn:notebridge:problem:invalid-header" {
					t.Errorf("type = %v; want invalid-header", p["type"])
				}
			}
		})
	}
}
