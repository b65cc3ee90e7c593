// Package contracts loads notebridge contracts and checks JSON values against them.
//
// A contract is a manifest file in a contracts directory (name, major version,
// mode, timeout, examples) that points at JSON Schema documents, usually in a
// sibling schemas directory. Load compiles every schema once and refuses the
// whole directory on the first problem it finds, so a gateway never starts
// with a contract it cannot enforce.
package contracts
