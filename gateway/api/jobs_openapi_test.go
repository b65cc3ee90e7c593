package api_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/notebridge/notebridge/gateway/jobs"
)

func TestOpenAPIDocumentsJobs(t *testing.T) {
	t.Parallel()
	g := newJobGateway(t, jobs.Config{})
	doc, _ := openAPIDoc(t, g.gateway)
	paths := doc["paths"].(map[string]any)

	// Every route the app serves has a documented path.
	for _, rt := range g.app.GetRoutes(true) {
		found := rt.Path == "/"
		for p := range paths {
			found = found || matches(rt.Path, p)
		}
		if !found {
			t.Errorf("route %s %s has no path in the document", rt.Method, rt.Path)
		}
	}
	tests := []struct {
		path, method string
		statuses     []string
	}{
		{"/api/steps", "post", []string{"202", "400", "404", "413", "415", "422", "503"}},
		{"/api/steps/v1", "post", []string{"202", "400", "404", "413", "415", "422", "503"}},
		{"/api/steps/v1/jobs", "post", []string{"202", "400", "404", "413", "415", "422", "503"}},
		{"/jobs/{id}", "get", []string{"200", "404", "503"}},
		{"/jobs/{id}", "delete", []string{"200", "404", "409", "503"}},
		{"/api/echo/v1", "post", []string{"200", "502", "504"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			item, ok := paths[tt.path].(map[string]any)
			if !ok {
				t.Fatalf("no path %s", tt.path)
			}
			op, ok := item[tt.method].(map[string]any)
			if !ok {
				t.Fatalf("no %s on %s", tt.method, tt.path)
			}
			responses := op["responses"].(map[string]any)
			for _, status := range tt.statuses {
				if _, ok := responses[status]; !ok {
					t.Errorf("does not document %s", status)
				}
			}
			if len(responses) != len(tt.statuses) && tt.path != "/api/echo/v1" {
				t.Errorf("documents %d statuses; want %d: %v", len(responses), len(tt.statuses), tt.statuses)
			}
		})
	}
	accepted := resolve(t, doc, "#/paths/~1api~1steps~1v1~1jobs/post/responses/202/content/application~1json/schema/$ref")
	if accepted != "#/components/schemas/JobAccepted" {
		t.Errorf("202 schema = %v; want JobAccepted", accepted)
	}
	// The 202 leads to the job's routes: a generated client can follow it.
	operations := map[string]bool{}
	for _, item := range paths {
		for _, op := range item.(map[string]any) {
			if op, ok := op.(map[string]any); ok {
				operations[fmt.Sprint(op["operationId"])] = true
			}
		}
	}
	links := resolve(t, doc, "#/paths/~1api~1steps~1v1~1jobs/post/responses/202/links").(map[string]any)
	for name, want := range map[string]string{"GetJob": "get_job", "CancelJob": "cancel_job"} {
		link, _ := links[name].(map[string]any)
		if link["operationId"] != want || !operations[want] {
			t.Errorf("202 link %s = %v; want operationId %s, an operation of the document", name, link, want)
		}
		if id := link["parameters"].(map[string]any)["id"]; id != "$response.body#/id" {
			t.Errorf("202 link %s takes id from %v; want $response.body#/id", name, id)
		}
	}
	if servers := doc["servers"].([]any); len(servers) != 1 || servers[0].(map[string]any)["url"] != "/" {
		t.Errorf("servers = %v; want the gateway itself, /", servers)
	}
	rejected := resolve(t, doc, "#/components/responses/JobRejected/content/application~1problem+json/examples").(map[string]any)
	for _, slug := range []string{"invalid-request", "idempotency-key-reused", "callback-not-allowed"} {
		if _, ok := rejected[slug]; !ok {
			t.Errorf("the job 422 does not list %s", slug)
		}
	}
	// A job's result has the type of its contract's result.
	result, _ := resolve(t, doc, "#/components/schemas/Job/properties/result").(map[string]any)
	anyOf, _ := result["anyOf"].([]any)
	if len(anyOf) != 1 || !strings.HasSuffix(fmt.Sprint(anyOf[0].(map[string]any)["$ref"]), ".schemas.result") {
		t.Errorf("Job.result = %v; want anyOf a $ref to the steps result schema", result)
	}
	// The document's Job is protocol/job-record.schema.json's record, as served.
	var record struct {
		Required   []string       `json:"required"`
		Properties map[string]any `json:"properties"`
	}
	raw, err := os.ReadFile("../../protocol/job-record.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &record); err != nil {
		t.Fatal(err)
	}
	delete(record.Properties, "callback_url") // stored only
	delete(record.Properties, "owner")
	job := resolve(t, doc, "#/components/schemas/Job").(map[string]any)
	if got, want := slices.Sorted(maps.Keys(job["properties"].(map[string]any))), slices.Sorted(maps.Keys(record.Properties)); !slices.Equal(got, want) {
		t.Errorf("Job's members are %v; the protocol's record has %v", got, want)
	}
	if got, want := fmt.Sprint(job["required"]), fmt.Sprint(record.Required); got != want {
		t.Errorf("Job requires %s; the protocol's record %s", got, want)
	}
	walkRefs(doc, func(ref string) {
		if resolve(t, doc, ref) == nil {
			t.Errorf("$ref %s resolves to nothing", ref)
		}
	})
}
