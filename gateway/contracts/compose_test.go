package contracts_test

import (
	"path/filepath"
	"testing"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/internal/contracttest"
)

// The rules of one manifest's compose member are in the shared vectors
// (protocol/vectors/manifests.json); these are the ones that need the
// other contracts: what a composition may call.
func TestComposedContractCallsLoadedSyncContracts(t *testing.T) {
	composed := func(call string) string {
		return contracttest.Manifest(`"name": "both"`, `"compose": {"steps": [{"name": "one", "call": "`+call+`"}]}`)
	}
	tests := []struct {
		name, call string
		problem    bool
	}{
		{"a sync contract", "t/v1", false},
		{"an unknown contract", "nobody/v1", true},
		{"an unknown version", "t/v7", true},
		{"a job contract", "job/v1", true},
		{"a composed contract", "other/v1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, contracttest.Tree(validTree()).With(contracttest.Tree{
				"contracts/both.v1.json":  composed(tt.call),
				"contracts/job.v1.json":   contracttest.Manifest(`"name": "job"`, `"mode": "job"`),
				"contracts/other.v1.json": contracttest.Manifest(`"name": "other"`, `"compose": {"steps": [{"name": "one", "call": "t/v1"}]}`),
			}))
			reg, findings := contracts.Check(filepath.Join(dir, "contracts"))
			_, err := reg.Lookup("both", 1)
			if tt.problem {
				if err == nil || len(findings) != 1 || findings[0].Pointer != "/compose/steps/0/call" {
					t.Fatalf("findings = %v, lookup err %v; want one at /compose/steps/0/call and no both/v1", findings, err)
				}
				return
			}
			if err != nil || len(findings) != 0 {
				t.Fatalf("findings = %v, lookup err %v; want none", findings, err)
			}
			both, _ := reg.Lookup("both", 1)
			target := both.Compose.Steps[0].Branches[0].Target
			if target == nil || target.ID() != "t/v1" {
				t.Errorf("target = %v; want t/v1", target)
			}
		})
	}
}

func TestRequireMet(t *testing.T) {
	tests := []struct {
		require          contracts.Require
		succeeded, total int
		want             bool
	}{
		{contracts.Require{}, 3, 3, true},
		{contracts.Require{}, 2, 3, false},
		{contracts.Require{Any: true}, 1, 3, true},
		{contracts.Require{Any: true}, 0, 3, false},
		{contracts.Require{Any: true}, 0, 0, true},
		{contracts.Require{Quorum: 2}, 2, 3, true},
		{contracts.Require{Quorum: 2}, 1, 3, false},
		{contracts.Require{Quorum: 5}, 3, 3, true}, // a map of fewer items than the quorum needs them all
	}
	for _, tt := range tests {
		if got := tt.require.Met(tt.succeeded, tt.total); got != tt.want {
			t.Errorf("%s.Met(%d, %d) = %v; want %v", tt.require, tt.succeeded, tt.total, got, tt.want)
		}
	}
}

func TestPointerResolve(t *testing.T) {
	doc := map[string]any{"a/b": []any{"x", map[string]any{"~k": 1}}}
	tests := []struct {
		pointer string
		want    any
		found   bool
	}{
		{"/a~1b/0", "x", true},
		{"/a~1b/1/~0k", 1, true},
		{"/a~1b/2", nil, false},
		{"/a~1b/01", nil, false},
		{"/missing", nil, false},
	}
	for _, tt := range tests {
		p, err := contracts.ParsePointer(tt.pointer)
		if err != nil {
			t.Fatalf("ParsePointer(%q): %v", tt.pointer, err)
		}
		got, found := p.Resolve(doc)
		if found != tt.found || got != tt.want {
			t.Errorf("Resolve(%q) = %v, %v; want %v, %v", tt.pointer, got, found, tt.want, tt.found)
		}
		if p.String() != tt.pointer {
			t.Errorf("String() = %q; want %q", p.String(), tt.pointer)
		}
	}
	if _, err := contracts.ParsePointer("/a~2"); err == nil {
		t.Error(`ParsePointer("/a~2"): no error; want one`)
	}
}

// A composition that calls a tenant-scoped contract is tenant-scoped
// itself: the tenant its client was held to is what it passes on.
func TestCompositionOfATenantScopedContractIsTenantScoped(t *testing.T) {
	for _, tenant := range []string{"", `"tenant": "/text"`} {
		overrides := []string{`"name": "both"`, `"compose": {"steps": [{"name": "one", "call": "t/v1"}]}`}
		if tenant != "" {
			overrides = append(overrides, tenant)
		}
		dir := writeTree(t, contracttest.Tree(validTree()).With(contracttest.Tree{
			"contracts/t.v1.json":    contracttest.Manifest(`"tenant": "/text"`),
			"contracts/both.v1.json": contracttest.Manifest(overrides...),
		}))
		_, findings := contracts.Check(filepath.Join(dir, "contracts"))
		switch {
		case tenant == "" && (len(findings) != 1 || findings[0].Pointer != "/compose/steps/0/call"):
			t.Errorf("without tenant: findings %v; want one at /compose/steps/0/call", findings)
		case tenant != "" && len(findings) != 0:
			t.Errorf("with tenant: findings %v; want none", findings)
		}
	}
}
