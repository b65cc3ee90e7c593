// Command nbbench measures notebridge against its baselines in one run and
// prints every row and the ratios between them (bench/README.md).
//
// Each row starts real processes on loopback (NATS, gateway, workers),
// drives them with wrk for a fixed duration, then stops them.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	var opts options
	flag.DurationVar(&opts.duration, "duration", 10*time.Second, "how long wrk drives each row")
	flag.IntVar(&opts.conns, "connections", 64, "concurrent connections of the throughput rows")
	flag.IntVar(&opts.manyConns, "many-connections", 1000, "connections of the memory row")
	flag.StringVar(&opts.rows, "rows", "R0,R1,G,C,P,F,B", "row groups to run")
	flag.BoolVar(&opts.smoke, "smoke", false, "check that every row serves without errors; no figures")
	flag.StringVar(&opts.root, "root", ".", "the repository root")
	flag.Parse()

	root, err := filepath.Abs(opts.root)
	if err != nil {
		fail(err)
	}
	opts.root = root
	h, err := newHarness(opts)
	if err != nil {
		fail(err)
	}
	results, err := h.run()
	h.close()
	if err != nil {
		fail(err)
	}
	report(os.Stdout, opts, results)
	if opts.smoke {
		for _, r := range results {
			if r.Requests == 0 || r.Errors > 0 {
				fail(fmt.Errorf("smoke: row %s served %d requests with %d errors", r.Name, r.Requests, r.Errors))
			}
		}
		fmt.Printf("%d passed, 0 failed\n", len(results))
	}
}

type options struct {
	duration  time.Duration
	conns     int
	manyConns int
	rows      string
	smoke     bool
	root      string
}

func (o options) wants(group string) bool {
	for _, g := range strings.Split(o.rows, ",") {
		if strings.TrimSpace(g) == group {
			return true
		}
	}
	return false
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "nbbench:", err)
	os.Exit(1)
}
