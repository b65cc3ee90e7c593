package api

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/notebridge/notebridge/gateway/contracts"
)

// The HTTP status and problem type each worker error code maps to are
// protocol/wire.json's, which docs/protocol.md's table shows.
func TestWorkerErrorCodesMapAsTheProtocolSays(t *testing.T) {
	raw, err := os.ReadFile("../../protocol/wire.json")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Codes map[string]struct {
			HTTPStatus int    `json:"http_status"`
			Problem    string `json:"problem"`
		} `json:"error_codes"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Codes) == 0 {
		t.Fatal("protocol/wire.json lists no error codes")
	}
	ct := &contracts.Contract{Name: "echo", Version: 1}
	for code, want := range p.Codes {
		t.Run(code, func(t *testing.T) {
			got := fromWorkerError(ct, code, "a message", nil, time.Second)
			if got.Status != want.HTTPStatus || got.Type != problemType(want.Problem) {
				t.Errorf("got %d %s; want %d %s", got.Status, got.Type, want.HTTPStatus, problemType(want.Problem))
			}
		})
	}
}
