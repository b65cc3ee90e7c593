package compose_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/notebridge/notebridge/gateway/compose"
	"github.com/notebridge/notebridge/gateway/contracts"
)

// ExampleRun composes upper/v1 and count/v1: both are called in
// parallel with the request's text, and their replies merged. The Caller
// here answers in process; the gateway's calls the contracts' workers
// over NATS.
func ExampleRun() {
	dir, _ := os.MkdirTemp("", "compose-example")
	defer os.RemoveAll(dir)
	files := map[string]string{
		"schemas/text.json":  `{"type": "object", "required": ["text"]}`,
		"schemas/count.json": `{"type": "object", "required": ["words"]}`,
		"schemas/both.json":  `{"type": "object", "required": ["upper", "count"]}`,
		"contracts/upper.v1.json": `{"name": "upper", "version": 1, "mode": "sync", "timeout_seconds": 1,
			"request_schema": "../schemas/text.json", "response_schema": "../schemas/text.json",
			"examples": [{"name": "a", "request": {"text": "a"}}]}`,
		"contracts/count.v1.json": `{"name": "count", "version": 1, "mode": "sync", "timeout_seconds": 1,
			"request_schema": "../schemas/text.json", "response_schema": "../schemas/count.json",
			"examples": [{"name": "a", "request": {"text": "a"}}]}`,
		"contracts/both.v1.json": `{"name": "both", "version": 1, "mode": "sync", "timeout_seconds": 2,
			"request_schema": "../schemas/text.json", "response_schema": "../schemas/both.json",
			"compose": {"steps": [{"name": "fan", "parallel": [
				{"name": "upper", "call": "upper/v1", "request": {"text": "/request/text"}, "into": "/upper"},
				{"name": "count", "call": "count/v1", "request": {"text": "/request/text"}, "into": "/count"}]}]},
			"examples": [{"name": "a", "request": {"text": "a"}}]}`,
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		_ = os.MkdirAll(filepath.Dir(path), 0o755)
		_ = os.WriteFile(path, []byte(content), 0o644)
	}
	reg, err := contracts.Load(filepath.Join(dir, "contracts"))
	if err != nil {
		fmt.Println(err)
		return
	}
	both, _ := reg.Lookup("both", 1)

	call := func(_ context.Context, ct *contracts.Contract, request []byte) ([]byte, error) {
		var in struct{ Text string }
		_ = json.Unmarshal(request, &in)
		if ct.Name == "upper" {
			return json.Marshal(map[string]string{"text": strings.ToUpper(in.Text)})
		}
		return json.Marshal(map[string]int{"words": len(strings.Fields(in.Text))})
	}
	reply, err := compose.Run(context.Background(), both, []byte(`{"text": "split optimise merge"}`), call, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(reply.Result), reply.Completed, len(reply.Branches))
	// Output: {"count":{"words":3},"upper":{"text":"SPLIT OPTIMISE MERGE"}} true 2
}
