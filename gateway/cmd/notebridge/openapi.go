package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/notebridge/notebridge/gateway/api"
	"github.com/notebridge/notebridge/gateway/contracts"
)

// runOpenAPI runs "notebridge openapi": the document GET /openapi.json
// serves for these contracts, written without starting a gateway, so CI
// can generate clients from the contracts alone (make clients).
func runOpenAPI(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("openapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: notebridge openapi [flags]\n\nWrite the OpenAPI document the gateway serves at /openapi.json for these contracts.\n\nFlags:")
		fs.PrintDefaults()
	}
	dirs := contractsDirFlag(fs)
	out := fs.String("o", "", "write the document to this file instead of standard output")
	var auth string
	authFlag(fs, &auth)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkAuth(auth); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("openapi: unexpected argument %q", fs.Arg(0))
	}
	reg, err := contracts.Load(splitDirs(*dirs)...)
	if err != nil {
		return err
	}
	doc, err := api.OpenAPI(reg, api.DocOptions{Keys: auth == authKeys, Usage: true})
	if err != nil {
		return err
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	body = append(body, '\n')
	if *out == "" {
		_, err = stdout.Write(body)
		return err
	}
	return os.WriteFile(*out, body, 0o644)
}
