package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// healthcheckTimeout bounds one probe: a container runtime's healthcheck
// must end on its own.
const healthcheckTimeout = 3 * time.Second

// runHealthcheck is "notebridge healthcheck": GET the gateway's /readyz
// and succeed on 200. A container image without a shell or curl (the
// gateway's is distroless) probes itself with its own binary.
func runHealthcheck(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("notebridge healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", envOr("NOTEBRIDGE_HEALTHCHECK_URL", "http://127.0.0.1:8080/readyz"), "the probe's URL (env NOTEBRIDGE_HEALTHCHECK_URL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("healthcheck: %s answered %d: %s", *url, resp.StatusCode, body)
	}
	return nil
}
