package contracttools_test

import "github.com/notebridge/notebridge/gateway/internal/contracttest"

// validTree is one correct contract, "t" v1, whose request schema reaches
// a second file through $ref.
func validTree() contracttest.Tree {
	return contracttest.Tree{
		"contracts/t.v1.json": contracttest.Manifest(),
		"schemas/req.json":    `{"type": "object", "additionalProperties": false, "required": ["text"], "properties": {"text": {"$ref": "defs.json#/$defs/text"}}}`,
		"schemas/defs.json":   `{"$defs": {"text": {"type": "string", "maxLength": 64}}}`,
		"schemas/resp.json":   `{"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}`,
	}
}
