package api

import "github.com/notebridge/notebridge/gateway/openapi"

// usageTotalsSchema is usage.Totals as JSON.
var usageTotalsSchema = map[string]any{
	"type":                 "object",
	"additionalProperties": false,
	"required":             []string{"calls", "attempts", "input_tokens", "output_tokens", "cost"},
	"properties": map[string]any{
		"calls":         map[string]any{"type": "integer", "minimum": 0},
		"attempts":      map[string]any{"type": "integer", "minimum": 0, "description": "Handler runs: the first attempts and every repair"},
		"input_tokens":  map[string]any{"type": "integer", "minimum": 0},
		"output_tokens": map[string]any{"type": "integer", "minimum": 0},
		"cost":          map[string]any{"type": "number", "minimum": 0, "description": "In the handlers' currency unit"},
	},
}

// usageReportSchema is what GET /usage answers (usageReport).
var usageReportSchema = map[string]any{
	"type":                 "object",
	"additionalProperties": false,
	"required":             []string{"since", "until", "group_by", "groups", "total"},
	"properties": map[string]any{
		"since":    map[string]any{"type": "string", "format": "date"},
		"until":    map[string]any{"type": "string", "format": "date"},
		"group_by": map[string]any{"type": "array", "items": map[string]any{"enum": usageDimensions}},
		"groups": map[string]any{"type": "array", "items": map[string]any{
			"allOf": []any{
				map[string]any{"$ref": "#/components/schemas/UsageTotals"},
				map[string]any{"type": "object", "properties": map[string]any{
					"day":      map[string]any{"type": "string", "format": "date"},
					"contract": map[string]any{"type": "string", "description": "name/vN"},
					"key":      map[string]any{"type": "string", "description": "The API key's id (notebridge keys list names it)"},
					"model":    map[string]any{"type": "string"},
				}},
			},
			"unevaluatedProperties": false,
		}},
		"total": map[string]any{"$ref": "#/components/schemas/UsageTotals"},
	},
}

// usagePath documents GET /usage.
func usagePath(doc *openapi.Document) {
	doc.Components.Schemas["UsageTotals"] = usageTotalsSchema
	doc.Components.Schemas["UsageReport"] = usageReportSchema
	query := func(name, description string, schema map[string]any) *openapi.Parameter {
		return &openapi.Parameter{Name: name, In: "query", Description: description, Schema: schema}
	}
	day := map[string]any{"type": "string", "format": "date"}
	report := jsonResponse("What the calls consumed, per group, and in total", openapi.Ref("UsageReport"))
	report.Headers = map[string]*openapi.Header{"X-Request-Id": {Ref: "#/components/headers/RequestId"}}
	doc.Tags = append(doc.Tags, openapi.Tag{Name: "usage", Description: "Tokens and cost of calls: the return on the models"})
	doc.Paths["/usage"] = &openapi.PathItem{
		Summary: "Usage and cost of sync calls",
		Get: &openapi.Operation{
			OperationID: "get_usage", Tags: []string{"usage"},
			Summary: "Calls, handler attempts, tokens and cost that workers reported, per UTC day, contract version, API key and model, from the ledger every replica writes",
			Parameters: []*openapi.Parameter{
				query("since", "First day, UTC (default: 29 days before until)", day),
				query("until", "Last day, UTC (default: today); at most 366 days after since", day),
				query("contract", "Only this contract: name, or name/vN", map[string]any{"type": "string", "pattern": `^[a-z][a-z0-9_-]{0,63}(/v[1-9][0-9]*)?$`}),
				query("key", "Only this API key's calls, by id (a key that is not a usage reader reads its own only)", map[string]any{"type": "string", "pattern": `^[0-9a-f]{12}$`}),
				query("group_by", "Comma list of day, contract, key, model (default contract,model)", map[string]any{"type": "string", "pattern": `^(day|contract|key|model)(,(day|contract|key|model))*$`}),
			},
			Responses: map[string]*openapi.Response{
				"200": report,
				"400": {Ref: "#/components/responses/InvalidQuery"},
				"503": {Ref: "#/components/responses/Unavailable"},
			},
		},
	}
}
