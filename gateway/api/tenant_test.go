package api_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/notebridge/notebridge/gateway/internal/contracttest"
)

// tenantContracts writes scoped/v1, a tenant-scoped contract, and
// pass/v1, a composition of it that takes the tenant of the branch's
// request from the member "for".
func tenantContracts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	contracttest.Tree{
		"schemas/req.json": `{"type": "object", "required": ["tenant", "text"], "properties": {
			"tenant": {"type": "string"}, "text": {"type": "string"}, "for": {"type": "string"}}}`,
		"schemas/any.json": `{"type": "object"}`,
		"contracts/scoped.v1.json": `{"name": "scoped", "version": 1, "mode": "sync", "timeout_seconds": 2, "tenant": "/tenant",
			"request_schema": "../schemas/req.json", "response_schema": "../schemas/any.json",
			"examples": [{"name": "x", "request": {"tenant": "acme", "text": "x"}}]}`,
		"contracts/pass.v1.json": `{"name": "pass", "version": 1, "mode": "sync", "timeout_seconds": 2, "tenant": "/tenant",
			"request_schema": "../schemas/req.json", "response_schema": "../schemas/any.json",
			"compose": {"steps": [{"name": "only", "call": "scoped/v1", "request": {"tenant": "/request/for", "text": "/request/text"}, "into": "/out"}]},
			"examples": [{"name": "x", "request": {"tenant": "acme", "for": "acme", "text": "x"}}]}`,
	}.Write(t, dir)
	return filepath.Join(dir, "contracts")
}

// A key bound to a tenant calls tenant-scoped contracts for that tenant
// only, directly or through a composition; other keys for any.
func TestAKeyBoundToATenantCallsForItOnly(t *testing.T) {
	g := newKeyedGateway(t, tenantContracts(t))
	worker := serveBranch(t, g.ns, g.reg, "scoped", echoAs("ok:"))

	tests := []struct {
		name, key, path, body string
		status                int
		detail                string
	}{
		{"its own tenant", "acme", "/api/scoped/v1", `{"tenant": "acme", "text": "x"}`, 200, ""},
		{"another tenant", "acme", "/api/scoped/v1", `{"tenant": "globex", "text": "x"}`, 403, `bound to tenant "acme"; this request of scoped/v1 is for "globex"`},
		{"a key without a tenant, any tenant", "all", "/api/scoped/v1", `{"tenant": "globex", "text": "x"}`, 200, ""},
		{"a contract that is not tenant-scoped", "acme", "/api/echo/v1", `{"text": "x"}`, 503, ""}, // no echo worker: past the key
		{"a composition for its own tenant", "acme", "/api/pass/v1", `{"tenant": "acme", "for": "acme", "text": "x"}`, 200, ""},
		{"a composition for another tenant", "acme", "/api/pass/v1", `{"tenant": "globex", "for": "globex", "text": "x"}`, 403, `bound to tenant "acme"`},
		{"a composition whose branch is for another tenant", "acme", "/api/pass/v1", `{"tenant": "acme", "for": "globex", "text": "x"}`, 403, `the request of scoped/v1 is for tenant "globex"; the composed request is for "acme"`},
		{"the same, with a key without a tenant", "all", "/api/pass/v1", `{"tenant": "acme", "for": "globex", "text": "x"}`, 403, `the composed request is for "acme"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := worker.calls.Load()
			r := g.as(t, tt.key, "POST", tt.path, tt.body)
			if r.status != tt.status {
				t.Fatalf("got %d; want %d (body %s)", r.status, tt.status, r.body)
			}
			if tt.status == 403 {
				p := r.problem(t)
				if p["type"] != "urn:notebridge:problem:forbidden" || !strings.Contains(p["detail"].(string), tt.detail) {
					t.Errorf("problem = %v; want forbidden saying %q", p, tt.detail)
				}
				if worker.calls.Load() != before {
					t.Error("the tenant-scoped worker was called")
				}
			}
		})
	}
}
