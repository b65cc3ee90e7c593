// Package contracttools holds the contract commands that run in CI on
// either side of a contract: Lint checks the files, RunTests sends every
// example through live workers, and Diff finds breaking changes against a
// git ref. `notebridge contracts lint|test|diff` is a thin shell over it;
// docs/contracts.md describes the commands and the compatibility rules.
package contracttools
