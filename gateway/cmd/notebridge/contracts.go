package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/contracttools"
	"github.com/notebridge/notebridge/gateway/internal/redact"
)

// errContractsFailed is returned when a contracts command ran and found
// problems: its report is already printed.
var errContractsFailed = errors.New("contracts check failed")

const contractsUsage = `usage: notebridge contracts <command> [flags]

commands:
  lint   check manifests, schemas and examples; print every problem
  test   send every example through live workers over NATS and check the replies
  diff   report breaking changes against a git ref

Run "notebridge contracts <command> -h" for its flags.`

// runContracts runs "notebridge contracts lint|test|diff".
func runContracts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, contractsUsage)
		if len(args) == 0 {
			return errors.New("contracts: missing command")
		}
		return flag.ErrHelp
	}
	switch args[0] {
	case "lint":
		return contractsLint(args[1:], stdout, stderr)
	case "test":
		return contractsTest(ctx, args[1:], stdout, stderr)
	case "diff":
		return contractsDiff(args[1:], stdout, stderr)
	default:
		fmt.Fprintln(stderr, contractsUsage)
		return fmt.Errorf("contracts: unknown command %q", args[0])
	}
}

func contractsDirFlag(fs *flag.FlagSet) *string {
	return fs.String("contracts-dir", envOr("NOTEBRIDGE_CONTRACTS_DIR", "contracts"),
		"directories of contract manifests, comma-separated (env NOTEBRIDGE_CONTRACTS_DIR)")
}

func splitDirs(s string) []string {
	var out []string
	for _, d := range strings.Split(s, ",") {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, d)
		}
	}
	return out
}

func contractsLint(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("notebridge contracts lint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dirs := contractsDirFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	rep := contracttools.Lint(splitDirs(*dirs)...)
	if err := rep.Write(stdout); err != nil {
		return err
	}
	if !rep.OK() {
		return errContractsFailed
	}
	return nil
}

func contractsTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("notebridge contracts test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dirs := contractsDirFlag(fs)
	var natsURL string
	urlsVar(fs, &natsURL, "nats", envOr("NOTEBRIDGE_NATS_URL", ""), "NATS server `url`s the workers are on, comma-separated (env NOTEBRIDGE_NATS_URL)")
	only := fs.String("contract", "", `test only this contract: "name" or "name/v1"`)
	junit := fs.String("junit", "", "also write the results as JUnit XML to this file")
	timeout := fs.Duration("timeout", 0, "bound on each example, e.g. 2s; 0 means the contract's timeout_seconds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if natsURL == "" {
		return errors.New("contracts test: -nats URL is required")
	}
	reg, err := contracts.Load(splitDirs(*dirs)...)
	if err != nil {
		return fmt.Errorf("%w (run notebridge contracts lint for every problem)", err)
	}
	nc, err := nats.Connect(natsURL, nats.Name("notebridge-contracts-test"), nats.Timeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("contracts test: -nats %s: %w", redact.URLs(natsURL), redact.New(natsURL).Error(err))
	}
	defer nc.Close()
	results, err := contracttools.RunTests(ctx, contracttools.TestConfig{Conn: nc, Registry: reg, Contract: *only, Timeout: *timeout})
	if err != nil {
		return fmt.Errorf("contracts test: %w", err)
	}
	if err := contracttools.WriteResults(stdout, results); err != nil {
		return err
	}
	if *junit != "" {
		if err := writeFile(*junit, func(w io.Writer) error { return contracttools.WriteJUnit(w, results) }); err != nil {
			return fmt.Errorf("contracts test: %w", err)
		}
	}
	if !contracttools.Passed(results) {
		return errContractsFailed
	}
	return nil
}

func contractsDiff(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("notebridge contracts diff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dirs := contractsDirFlag(fs)
	against := fs.String("against", "", "git ref to compare the working tree with, e.g. HEAD~1 or origin/main")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *against == "" {
		return errors.New("contracts diff: -against <git ref> is required")
	}
	rep, err := contracttools.Diff(*against, splitDirs(*dirs)...)
	if err != nil {
		return fmt.Errorf("contracts diff: %w", err)
	}
	if err := rep.Write(stdout); err != nil {
		return err
	}
	if !rep.OK() {
		return errContractsFailed
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
