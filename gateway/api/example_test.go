package api_test

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/notebridge/notebridge/gateway/api"
	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/embedded"
	"github.com/notebridge/notebridge/gateway/internal/refworker"
)

// ExampleNew wires a gateway to an in-process NATS server and a Go worker,
// then calls a contract.
func ExampleNew() {
	ns, _ := embedded.Start(embedded.Config{Port: -1})
	defer ns.Shutdown()
	nc, _ := nats.Connect(ns.ClientURL())
	defer nc.Close()

	reg, _ := contracts.Load("../../testdata/contracts")
	echo, _ := reg.Lookup("echo", 1)
	svc, _ := refworker.Start(nc, []*contracts.Contract{echo})
	defer svc.Stop() //nolint:errcheck

	app, err := api.New(api.Config{Registry: reg, Conn: nc})
	if err != nil {
		fmt.Println(err)
		return
	}
	req := httptest.NewRequest("POST", "/api/echo/v1", strings.NewReader(`{"text": "hi"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, _ := app.Test(req)
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 {"text":"hi"}
}
