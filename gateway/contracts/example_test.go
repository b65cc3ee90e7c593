package contracts_test

import (
	"fmt"

	"github.com/notebridge/notebridge/gateway/contracts"
)

func ExampleLoad() {
	reg, err := contracts.Load("../../testdata/contracts")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range reg.All() {
		fmt.Println(c.ID(), c.Subject, c.Timeout, c.Deprecated)
	}
	latest, _ := reg.Latest("echo")
	fmt.Println("latest:", latest.ID())
	// Output:
	// echo/v1 nb.echo.v1 2s false
	// echo/v2 nb.echo.v2 2s true
	// tokens/v1 nb.tokens.v1 5s false
	// latest: echo/v1
}

func ExampleContract_ValidateRequest() {
	reg, _ := contracts.Load("../../testdata/contracts")
	echo, _ := reg.Lookup("echo", 1)
	req, _ := contracts.DecodeJSON([]byte(`{"text": 7, "colour": "red"}`))
	for _, v := range echo.ValidateRequest(req) {
		fmt.Printf("%q %s: %s\n", v.InstancePath, v.Keyword, v.Message)
	}
	// Output:
	// "" additionalProperties: additionalProperties 'colour' not allowed
	// "/text" type: expected string, but got number
}
