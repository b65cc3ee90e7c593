// Package compat finds the changes between two versions of a JSON Schema
// that break the programs on either side of it, with the JSON Schema rules
// of Confluent Schema Registry as the anchor.
//
// A request schema must stay BACKWARD compatible: every request that was
// valid under the old schema is valid under the new one. A response schema
// must stay FORWARD compatible: every reply valid under the new schema is
// valid under the old one, so consumers written against the old schema can
// read it. Both come down to one question, asked with the two schemas in
// one order or the other: can the first schema accept a value that the
// second rejects? Compare answers it keyword by keyword, after resolving
// $ref (across files too) and allOf, and names every place where the
// answer is yes. docs/contracts.md lists the rules.
package compat
