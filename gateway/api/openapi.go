package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/openapi"
)

// DocOptions describe the gateway a document is for, beyond its contracts.
type DocOptions struct {
	// Keys says the gateway requires API keys (Config.Keys): calls and job
	// routes then declare the bearer scheme and their 401 and 403.
	Keys bool
	// Usage says the gateway keeps a usage ledger (Config.Ledger), served
	// at GET /usage.
	Usage bool
}

// OpenAPI builds the gateway's OpenAPI 3.1 document from the contracts:
// every route of routes.go, POST /api/{name} and /api/{name}/v{N} per
// contract with its request and response schemas (bundled as components)
// and examples, and the problem+json errors.
func OpenAPI(reg *contracts.Registry, opts DocOptions) (*openapi.Document, error) {
	bundle, err := openapi.NewBundle(reg.All())
	if err != nil {
		return nil, err
	}
	doc := &openapi.Document{
		OpenAPI:           openapi.Version,
		JSONSchemaDialect: openapi.Dialect,
		Info: openapi.Info{
			Title:   "notebridge gateway",
			Version: contractsVersion(reg),
			Description: "Every contract the gateway serves: the request is checked against the request schema, " +
				"sent to a worker over NATS, and the reply checked against the response schema. " +
				"Errors are RFC 9457 application/problem+json. A human-friendly page is at /docs.",
		},
		// Relative: clients reach the gateway where they fetched the document.
		Servers:    []openapi.Server{{URL: "/", Description: "this gateway"}},
		Tags:       []openapi.Tag{{Name: "gateway", Description: "Health, catalog and documentation"}},
		Paths:      map[string]*openapi.PathItem{},
		Components: components(bundle),
	}
	gatewayPaths(doc)
	if reg.HasJobs() {
		jobPaths(doc)
		if err := typeJobResult(doc, bundle, reg); err != nil {
			return nil, err
		}
	}

	var names []string
	for _, ct := range reg.All() {
		if len(names) == 0 || names[len(names)-1] != ct.Name {
			names = append(names, ct.Name)
		}
	}
	for _, name := range names {
		latest, err := reg.Latest(name)
		if err != nil {
			return nil, err
		}
		doc.Tags = append(doc.Tags, openapi.Tag{Name: name, Description: latest.Description})
		item, err := contractPath(bundle, latest, "/api/"+name, true)
		if err != nil {
			return nil, err
		}
		doc.Paths["/api/"+name] = item
	}
	for _, ct := range reg.All() {
		item, err := contractPath(bundle, ct, href(ct), false)
		if err != nil {
			return nil, err
		}
		doc.Paths[href(ct)] = item
		if ct.Mode == contracts.ModeJob {
			submit := *item.Post
			submit.OperationID = "submit_" + ct.Name + "_v" + strconv.Itoa(ct.Version)
			submit.Summary = fmt.Sprintf("Submit a job of %s", ct.ID())
			doc.Paths[href(ct)+"/jobs"] = &openapi.PathItem{Summary: ct.Description, Post: &submit}
		}
	}
	if opts.Usage {
		usagePath(doc)
	}
	if opts.Keys {
		requireKeys(doc)
	}
	return doc, nil
}

// requireKeys declares the API key scheme on every call and job route.
func requireKeys(doc *openapi.Document) {
	doc.Components.SecuritySchemes = map[string]*openapi.SecurityScheme{
		"apiKey": {Type: "http", Scheme: "bearer", BearerFormat: "nb_<id>_<secret>",
			Description: "An API key from `notebridge keys create`, sent as Authorization: Bearer <key>"},
	}
	for path, item := range doc.Paths {
		if !strings.HasPrefix(path, "/api/") && !strings.HasPrefix(path, "/jobs") && path != "/usage" {
			continue
		}
		for _, op := range []*openapi.Operation{item.Post, item.Delete, item.Get} {
			if op == nil || (op == item.Get && strings.HasPrefix(path, "/api/")) { // describing a contract needs no key
				continue
			}
			op.Security = []openapi.SecurityRequirement{{"apiKey": {}}}
			op.Responses["401"] = &openapi.Response{Ref: "#/components/responses/Unauthorized"}
			op.Responses["429"] = &openapi.Response{Ref: "#/components/responses/RateLimited"}
			if path == "/usage" {
				op.Responses["403"] = &openapi.Response{Ref: "#/components/responses/Forbidden"}
			}
			if strings.HasPrefix(path, "/api/") {
				op.Responses["403"] = &openapi.Response{Ref: "#/components/responses/Forbidden"}
				if !strings.HasSuffix(path, "/jobs") {
					op.Responses["402"] = &openapi.Response{Ref: "#/components/responses/BudgetExhausted"}
				}
			}
		}
	}
}

// contractsVersion names the document's version after the contracts it
// describes, so a client generator sees when they change: 1.0.0 with the
// contracts' hash as build metadata, a version both semver and PEP 440
// (a local version) accept, as generators use it as the package's.
func contractsVersion(reg *contracts.Registry) string {
	h := sha256.New()
	for _, ct := range reg.All() {
		fmt.Fprintf(h, "%s %s\n", ct.ID(), ct.Digest)
	}
	return "1.0.0+contracts." + hex.EncodeToString(h.Sum(nil))[:12]
}

// contractPath documents one contract path: GET describes the version,
// POST calls it. latest says the path is /api/{name}, which calls the
// highest version that is not deprecated.
func contractPath(bundle *openapi.Bundle, ct *contracts.Contract, path string, latest bool) (*openapi.PathItem, error) {
	reqName, err := bundle.Component(ct, ct.RequestSchemaRef)
	if err != nil {
		return nil, err
	}
	respName, err := responseComponent(bundle, ct)
	if err != nil {
		return nil, err
	}
	var chunkName string
	if ct.ChunkSchemaRef != "" {
		if chunkName, err = bundle.Component(ct, ct.ChunkSchemaRef); err != nil {
			return nil, err
		}
		bundle.Schemas[streamEventName(ct)] = streamEventSchema(ct, chunkName)
	}
	id := ct.Name + "_v" + strconv.Itoa(ct.Version)
	summary := fmt.Sprintf("Call %s", ct.ID())
	if latest {
		id = ct.Name + "_latest"
		summary = fmt.Sprintf("Call %s, the latest version of %s that is not deprecated", ct.ID(), ct.Name)
	}
	reqExamples, respExamples := examples(ct)
	description := fmt.Sprintf("%s\n\nTimeout: %gs (a Request-Timeout header may shorten it). NATS subject: %s. Contract digest: %s.",
		ct.Description, ct.Timeout.Seconds(), ct.Subject, ct.Digest)
	params := []*openapi.Parameter{
		{Ref: "#/components/parameters/RequestTimeout"},
		{Ref: "#/components/parameters/RequestId"},
		{Ref: "#/components/parameters/Traceparent"},
	}
	if ct.Mode == contracts.ModeJob {
		summary = strings.Replace(summary, "Call", "Submit a job of", 1)
		description = fmt.Sprintf("%s\n\nA job: the answer is 202 with the job's id at once; GET /jobs/{id} follows it, and its result, once it succeeded, is valid against %s. "+
			"Each attempt may take %gs; a job is delivered to a worker at most %d time(s) (ack wait %gs). NATS subject: %s. Contract digest: %s.",
			ct.Description, respName, ct.Timeout.Seconds(), ct.MaxAttempts, ct.AckWait.Seconds(), ct.Subject, ct.Digest)
		params = []*openapi.Parameter{
			{Ref: "#/components/parameters/IdempotencyKey"},
			{Ref: "#/components/parameters/CallbackUrl"},
			{Ref: "#/components/parameters/RequestId"},
			{Ref: "#/components/parameters/Traceparent"},
		}
	}
	post := &openapi.Operation{
		OperationID: "call_" + id,
		Summary:     summary,
		Description: description,
		Tags:        []string{ct.Name},
		Deprecated:  ct.Deprecated && !latest,
		Parameters:  params,
		RequestBody: &openapi.RequestBody{
			Required: true,
			Content: map[string]openapi.MediaType{
				fiber.MIMEApplicationJSON: {Schema: openapi.Ref(reqName), Examples: reqExamples},
			},
		},
		Responses: invokeResponses(ct, respName, chunkName, respExamples),
	}
	get := &openapi.Operation{
		OperationID: "describe_" + id,
		Summary:     fmt.Sprintf("Describe %s: schemas and examples", ct.ID()),
		Tags:        []string{ct.Name},
		Responses: map[string]*openapi.Response{
			"200": jsonResponse("The contract version, its schema files keyed by path, and its examples", openapi.Ref("ContractVersion")),
			"404": {Ref: "#/components/responses/NotFound"},
		},
	}
	return &openapi.PathItem{Summary: ct.Description, Get: get, Post: post}, nil
}

// invokeResponses are the answers of a call, by the contract's mode. A
// job's own routes are in jobPaths.
func invokeResponses(ct *contracts.Contract, respName, chunkName string, respExamples map[string]*openapi.Example) map[string]*openapi.Response {
	if ct.Mode == contracts.ModeJob {
		return jobResponses()
	}
	var ok *openapi.Response
	if ct.Mode == contracts.ModeStream {
		ok = &openapi.Response{
			Description: fmt.Sprintf("Server-Sent Events: one `chunk` event per chunk (its data valid against the chunk schema %s, its id the chunk number), then an `end` event (`{\"chunks\": N}`) or an `error` event whose data is a Problem. With `Accept: application/json` the chunks merged into one reply instead, for contracts that declare a merge (406 otherwise).", chunkName),
			Content: map[string]openapi.MediaType{
				"text/event-stream": {Schema: openapi.Ref(streamEventName(ct))},
			},
		}
		if respName != "" {
			ok.Content[fiber.MIMEApplicationJSON] = openapi.MediaType{Schema: openapi.Ref(respName), Examples: respExamples}
		}
	} else {
		desc := "The worker's reply, valid against the response schema: its bytes, unchanged"
		if ct.Composed() {
			desc = "The result merged from the branches (valid against the response schema), whether every branch succeeded, and how each ended"
		}
		ok = jsonResponse(desc, openapi.Ref(respName))
		ok.Content[fiber.MIMEApplicationJSON] = openapi.MediaType{Schema: openapi.Ref(respName), Examples: respExamples}
	}
	ok.Headers = map[string]*openapi.Header{"X-Request-Id": {Ref: "#/components/headers/RequestId"}}
	if ct.Mode == contracts.ModeSync {
		for header, component := range map[string]string{
			HeaderCost: "Cost", HeaderInputTokens: "InputTokens", HeaderOutputTokens: "OutputTokens",
		} {
			ok.Headers[header] = &openapi.Header{Ref: "#/components/headers/" + component}
		}
		if ct.Repair != nil {
			ok.Headers[HeaderAttempts] = &openapi.Header{Ref: "#/components/headers/Attempts"}
		}
		if ct.Cache != nil {
			ok.Headers[HeaderCache] = &openapi.Header{Ref: "#/components/headers/Cache"}
			ok.Headers[fiber.HeaderAge] = &openapi.Header{Description: "Seconds since the cached reply was computed", Schema: map[string]any{"type": "integer", "minimum": 0}}
		}
	}
	responses := map[string]*openapi.Response{
		"200": ok,
		"400": {Ref: "#/components/responses/BadRequest"},
		"404": {Ref: "#/components/responses/NotFound"},
		"413": {Ref: "#/components/responses/BodyTooLarge"},
		"415": {Ref: "#/components/responses/UnsupportedMediaType"},
		"422": {Ref: "#/components/responses/InvalidRequest"},
		"502": {Ref: "#/components/responses/BadGateway"},
		"503": {Ref: "#/components/responses/Unavailable"},
		"504": {Ref: "#/components/responses/DeadlineExceeded"},
	}
	if ct.Mode == contracts.ModeStream {
		responses["406"] = &openapi.Response{Ref: "#/components/responses/NotAcceptable"}
	}
	return responses
}

// responseComponent is the component of what a call of ct answers (a
// job's result): its response schema, or for a composed contract the
// envelope of its merged result; "" for a stream without merge.
func responseComponent(bundle *openapi.Bundle, ct *contracts.Contract) (string, error) {
	if ct.ResponseSchemaRef == "" {
		return "", nil
	}
	name, err := bundle.Component(ct, ct.ResponseSchemaRef)
	if err != nil || !ct.Composed() {
		return name, err
	}
	// The bundle's names are paths with dots, which never end in ".composed".
	envelope := fmt.Sprintf("%s.v%d.composed", ct.Name, ct.Version)
	bundle.Schemas[envelope] = map[string]any{
		"type":        "object",
		"title":       fmt.Sprintf("%s v%d composed reply", ct.Name, ct.Version),
		"description": fmt.Sprintf("The reply of %s, composed at the gateway: the result merged from its branches, whether every branch succeeded, and how each ended", ct.ID()),
		"required":    []string{"result", "completed", "branches"},
		"properties": map[string]any{
			"result":    openapi.Ref(name),
			"completed": map[string]any{"type": "boolean", "description": "false when a branch failed and its step went on without it (require any or quorum)"},
			"branches":  map[string]any{"type": "array", "items": openapi.Ref("CompositionOutcome")},
		},
	}
	return envelope, nil
}

// streamEventName is the component of one event of a stream contract's
// answer; the bundle's names are paths with dots, which never end in ".event".
func streamEventName(ct *contracts.Contract) string {
	return fmt.Sprintf("%s.v%d.event", ct.Name, ct.Version)
}

// streamEventSchema is one Server-Sent Event of a stream, as a client
// parses it (event name, id, data decoded from JSON): the text/event-stream
// body is a sequence of them. OpenAPI 3.1 has no keyword for the items of a
// sequential media type (3.2's itemSchema), so the schema of the
// text/event-stream content is the event's; generators then make a type of
// each chunk, end and error event.
func streamEventSchema(ct *contracts.Contract, chunkName string) map[string]any {
	event := func(name, description string, data any, required ...string) map[string]any {
		return map[string]any{
			"type":        "object",
			"title":       fmt.Sprintf("%s v%d %s event", ct.Name, ct.Version, name),
			"description": description,
			"required":    append([]string{"event", "data"}, required...),
			"properties": map[string]any{
				"event": map[string]any{"type": "string", "const": name},
				"id":    map[string]any{"type": "string", "description": "The chunk's number, from 1"},
				"data":  data,
			},
		}
	}
	return map[string]any{
		"title":       fmt.Sprintf("%s v%d event", ct.Name, ct.Version),
		"description": fmt.Sprintf("One Server-Sent Event of a %s stream: the body is chunk events, then one end or error event", ct.ID()),
		"oneOf": []any{
			event("chunk", "A chunk, valid against the chunk schema", openapi.Ref(chunkName), "id"),
			event("end", "The stream ended after every chunk", openapi.Ref("StreamEnd")),
			event("error", "The stream failed: a problem, as an error response would have it", openapi.Ref("Problem")),
		},
	}
}

// typeJobResult gives the Job record's result the types of the job
// contracts' results, so a generated client decodes it.
func typeJobResult(doc *openapi.Document, bundle *openapi.Bundle, reg *contracts.Registry) error {
	var results []any
	var names []string // the components in results: two versions may share one
	for _, ct := range reg.All() {
		if ct.Mode != contracts.ModeJob {
			continue
		}
		name, err := responseComponent(bundle, ct)
		if err != nil {
			return err
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
			results = append(results, openapi.Ref(name))
		}
	}
	properties := maps.Clone(jobSchema["properties"].(map[string]any))
	properties["result"] = map[string]any{
		"description": "Once succeeded: the result, valid against the response schema of the job's contract",
		"anyOf":       results,
	}
	job := maps.Clone(jobSchema)
	job["properties"] = properties
	doc.Components.Schemas["Job"] = job
	return nil
}

// examples turns a contract's examples into OpenAPI examples of the
// request and of the response (for those that give one).
func examples(ct *contracts.Contract) (req, resp map[string]*openapi.Example) {
	req, resp = map[string]*openapi.Example{}, map[string]*openapi.Example{}
	for i, ex := range ct.Examples {
		key := exampleKey(ex.Name, i)
		req[key] = &openapi.Example{Summary: ex.Name, Value: ex.Request}
		if len(ex.Response) > 0 {
			resp[key] = &openapi.Example{Summary: ex.Name, Value: ex.Response}
		}
	}
	if len(resp) == 0 {
		resp = nil
	}
	return req, resp
}

func exampleKey(name string, i int) string {
	key := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, name)
	if key == "" {
		key = "example"
	}
	return fmt.Sprintf("%s_%d", key, i)
}

// gatewayPaths documents the routes that are not contracts.
func gatewayPaths(doc *openapi.Document) {
	get := func(path, id, summary string, ok *openapi.Response, more map[string]*openapi.Response) {
		responses := map[string]*openapi.Response{"200": ok}
		for k, v := range more {
			responses[k] = v
		}
		doc.Paths[path] = &openapi.PathItem{Get: &openapi.Operation{
			OperationID: id, Summary: summary, Tags: []string{"gateway"}, Responses: responses,
		}}
	}
	status := map[string]any{"type": "object", "properties": map[string]any{"status": map[string]any{"type": "string"}}}
	get("/healthz", "healthz", "200 while the process serves HTTP", jsonResponse("Alive", status), nil)
	get("/readyz", "readyz", "200 when contracts are loaded and NATS is connected", jsonResponse("Ready", status),
		map[string]*openapi.Response{"503": {Ref: "#/components/responses/Unavailable"}})
	get("/api", "catalog", "Every contract and version, with how many workers serve each right now",
		jsonResponse("The catalog", openapi.Ref("Catalog")), nil)
	get("/metrics", "metrics", "Prometheus metrics: calls by contract, version and status class, latencies, in-flight calls, validation failures, job queues",
		&openapi.Response{Description: "The Prometheus text format",
			Content: map[string]openapi.MediaType{"text/plain": {Schema: map[string]any{"type": "string"}}}}, nil)
	get("/openapi.json", "openapi", "This document",
		jsonResponse("An OpenAPI 3.1 document", map[string]any{"type": "object"}), nil)
	get("/docs", "docs", "A page for product engineers: contracts, schemas, examples, worker liveness and a form to try a call",
		&openapi.Response{Description: "An HTML page that needs no network beyond this gateway",
			Content: map[string]openapi.MediaType{fiber.MIMETextHTMLCharsetUTF8: {Schema: map[string]any{"type": "string"}}}}, nil)
}

// jobResponses are the answers to a job submission.
func jobResponses() map[string]*openapi.Response {
	accepted := jsonResponse("The job is accepted (or, with an Idempotency-Key seen before, is the one the key names); follow Location", openapi.Ref("JobAccepted"))
	accepted.Headers = map[string]*openapi.Header{
		"Location":            {Ref: "#/components/headers/Location"},
		"Idempotent-Replayed": {Ref: "#/components/headers/IdempotentReplayed"},
		"X-Request-Id":        {Ref: "#/components/headers/RequestId"},
	}
	job := map[string]string{"id": "$response.body#/id"}
	accepted.Links = map[string]*openapi.Link{
		"GetJob":    {OperationID: "get_job", Parameters: job, Description: "The job's status, progress, and result or error"},
		"CancelJob": {OperationID: "cancel_job", Parameters: job, Description: "Cancel the job"},
	}
	return map[string]*openapi.Response{
		"202": accepted,
		"400": {Ref: "#/components/responses/BadRequest"},
		"404": {Ref: "#/components/responses/NotFound"},
		"413": {Ref: "#/components/responses/BodyTooLarge"},
		"415": {Ref: "#/components/responses/UnsupportedMediaType"},
		"422": {Ref: "#/components/responses/JobRejected"},
		"503": {Ref: "#/components/responses/Unavailable"},
	}
}

// jobPaths documents GET and DELETE /jobs/{id}.
func jobPaths(doc *openapi.Document) {
	idParam := []*openapi.Parameter{{Name: "id", In: "path", Required: true, Description: "The job id, from the 202 of its submission",
		Schema: map[string]any{"type": "string", "pattern": `^[A-Za-z0-9_-]{1,64}$`}}}
	record := jsonResponse("The job's record", openapi.Ref("Job"))
	record.Headers = map[string]*openapi.Header{"X-Request-Id": {Ref: "#/components/headers/RequestId"}}
	doc.Tags = append(doc.Tags, openapi.Tag{Name: "jobs", Description: "Jobs of job contracts: status, result, cancellation"})
	query := func(name, description string, schema map[string]any) *openapi.Parameter {
		return &openapi.Parameter{Name: name, In: "query", Description: description, Schema: schema}
	}
	list := jsonResponse("A page of jobs, newest first", openapi.Ref("JobList"))
	list.Headers = map[string]*openapi.Header{"X-Request-Id": {Ref: "#/components/headers/RequestId"}}
	doc.Paths["/jobs"] = &openapi.PathItem{
		Summary: "The caller's jobs",
		Get: &openapi.Operation{
			OperationID: "list_jobs", Tags: []string{"jobs"},
			Summary: "The jobs of the caller's API key (without keys: those submitted without one), newest first, a page at a time",
			Parameters: []*openapi.Parameter{
				query("contract", "Only this contract's jobs: name, or name/vN", map[string]any{"type": "string", "pattern": `^[a-z][a-z0-9_-]{0,63}(/v[1-9][0-9]*)?$`}),
				query("status", "Only jobs with this status", jobStatusSchema),
				query("limit", "Jobs per page", map[string]any{"type": "integer", "minimum": 1, "maximum": maxListLimit, "default": defaultListLimit}),
				query("cursor", "next of the previous page", map[string]any{"type": "string"}),
			},
			Responses: map[string]*openapi.Response{
				"200": list,
				"400": {Ref: "#/components/responses/InvalidQuery"},
				"503": {Ref: "#/components/responses/Unavailable"},
			},
		},
	}
	doc.Paths["/jobs/{id}"] = &openapi.PathItem{
		Summary: "A job of a job contract",
		Get: &openapi.Operation{
			OperationID: "get_job", Summary: "A job's status, progress, and result or error", Tags: []string{"jobs"}, Parameters: idParam,
			Responses: map[string]*openapi.Response{
				"200": record,
				"404": {Ref: "#/components/responses/NotFound"},
				"503": {Ref: "#/components/responses/Unavailable"},
			},
		},
		Delete: &openapi.Operation{
			OperationID: "cancel_job", Summary: "Cancel a queued or running job; its worker is told to stop. Cancelling a cancelled job changes nothing",
			Tags: []string{"jobs"}, Parameters: idParam,
			Responses: map[string]*openapi.Response{
				"200": record,
				"404": {Ref: "#/components/responses/NotFound"},
				"409": {Ref: "#/components/responses/JobFinished"},
				"503": {Ref: "#/components/responses/Unavailable"},
			},
		},
	}
}

func jsonResponse(description string, schema any) *openapi.Response {
	return &openapi.Response{Description: description, Content: map[string]openapi.MediaType{
		fiber.MIMEApplicationJSON: {Schema: schema},
	}}
}

// components holds the bundled contract schemas and what every operation
// shares: the Problem schema, the problem responses, headers and
// parameters.
func components(bundle *openapi.Bundle) openapi.Components {
	c := openapi.Components{
		Schemas:   bundle.Schemas,
		Responses: map[string]*openapi.Response{},
		Headers: map[string]*openapi.Header{
			"RequestId":  {Description: "The request's id, in the gateway's and the worker's logs", Schema: map[string]any{"type": "string"}},
			"RetryAfter": {Description: "Seconds to wait before trying again", Schema: map[string]any{"type": "integer", "minimum": 0}},
			"Allow":      {Description: "The methods the path serves", Schema: map[string]any{"type": "string"}},
			"Location":   {Description: "The job's URL, /jobs/{id}", Schema: map[string]any{"type": "string"}},
			"IdempotentReplayed": {Description: "\"true\" when the Idempotency-Key was seen before with the same request: the job is the one it made",
				Schema: map[string]any{"type": "string", "enum": []string{"true"}}},
			"Attempts": {Description: "Contracts with repair: how many times the handler ran, the first attempt included",
				Schema: map[string]any{"type": "string", "pattern": "^[1-9][0-9]*$"}},
			"Cost": {Description: "The cost the handler reported, summed over every attempt, in its currency unit",
				Schema: map[string]any{"type": "string", "pattern": `^[0-9]+(\.[0-9]+)?$`}},
			"InputTokens": {Description: "Input tokens the handler reported, summed over every attempt",
				Schema: map[string]any{"type": "string", "pattern": "^[0-9]+$"}},
			"OutputTokens": {Description: "Output tokens the handler reported, summed over every attempt",
				Schema: map[string]any{"type": "string", "pattern": "^[0-9]+$"}},
			"Cache": {Description: "Contracts with a reply cache: hit (served from the cache, with Age), miss (computed and stored) or bypass (Cache-Control: no-cache or no-store)",
				Schema: map[string]any{"type": "string", "enum": []string{"hit", "miss", "bypass"}}},
		},
		Parameters: map[string]*openapi.Parameter{
			"RequestTimeout": {Name: HeaderRequestTimeout, In: "header", Description: "Seconds, digits with an optional fraction such as 2 or 0.5, at least 0.001: a shorter deadline than the contract's timeout; a longer one is capped",
				Schema: map[string]any{"type": "string", "pattern": requestTimeoutPattern, "maxLength": maxRequestTimeoutLen}},
			"RequestId": {Name: HeaderRequestID, In: "header", Description: "Your id for the request: 1 to 128 of A-Z a-z 0-9 - _ . :",
				Schema: map[string]any{"type": "string", "pattern": `^[A-Za-z0-9._:-]{1,128}$`}},
			"Traceparent": {Name: "traceparent", In: "header", Description: "W3C trace context, passed on to the worker",
				Schema: map[string]any{"type": "string"}},
			"IdempotencyKey": {Name: HeaderIdempotencyKey, In: "header", Description: "Makes the submission safe to repeat: the same key with the same contract and body returns the same job (Idempotent-Replayed: true); with another, 422 idempotency-key-reused. Keys live as long as job records",
				Schema: map[string]any{"type": "string", "pattern": `^[!-~]{1,255}$`}},
			"CallbackUrl": {Name: HeaderCallbackURL, In: "header", Description: "An http(s) URL on a host of the gateway's webhook allow-list: the job's record is POSTed there, signed (Notebridge-Signature), when the job ends",
				Schema: map[string]any{"type": "string", "format": "uri"}},
		},
	}
	for _, name := range []string{"Problem", "Violation", "Catalog", "ContractVersion", "Job", "JobAccepted", "StreamEnd", "JobList", "CompositionOutcome"} {
		if _, taken := c.Schemas[name]; taken {
			c.Schemas["contract."+name] = c.Schemas[name] // a schema file called Problem.json
		}
	}
	c.Schemas["Problem"] = problemSchema()
	c.Schemas["Violation"] = violationSchema
	c.Schemas["Catalog"] = catalogSchema
	c.Schemas["ContractVersion"] = contractVersionSchema
	c.Schemas["Job"] = jobSchema
	c.Schemas["JobAccepted"] = jobAcceptedSchema
	c.Schemas["StreamEnd"] = streamEndSchema
	c.Schemas["CompositionOutcome"] = compositionOutcomeSchema
	c.Schemas["JobList"] = map[string]any{
		"type":     "object",
		"required": []string{"jobs"},
		"properties": map[string]any{
			"jobs": map[string]any{"type": "array", "items": openapi.Ref("Job")},
			"next": map[string]any{"type": "string", "description": "The cursor of the next page (?cursor=); absent on the last"},
		},
	}

	for name, specs := range problemResponses {
		var titles []string
		examples := map[string]*openapi.Example{}
		for _, p := range specs {
			titles = append(titles, p.title)
			value, _ := json.Marshal(p.new(""))
			examples[p.slug] = &openapi.Example{Summary: p.title, Value: value}
		}
		resp := &openapi.Response{
			Description: strings.Join(titles, ", or ") + " (application/problem+json)",
			Headers:     map[string]*openapi.Header{"X-Request-Id": {Ref: "#/components/headers/RequestId"}},
			Content:     map[string]openapi.MediaType{mimeProblem: {Schema: openapi.Ref("Problem"), Examples: examples}},
		}
		switch specs[0].status {
		case fiber.StatusServiceUnavailable:
			resp.Headers["Retry-After"] = &openapi.Header{Ref: "#/components/headers/RetryAfter"}
		case fiber.StatusTooManyRequests:
			resp.Headers["Retry-After"] = &openapi.Header{Ref: "#/components/headers/RetryAfter"}
			resp.Headers["RateLimit"] = &openapi.Header{Description: `Where the key stands (IETF draft): "key";r=<calls left at once>;t=<seconds until the burst is whole>`, Schema: map[string]any{"type": "string"}}
			resp.Headers["RateLimit-Policy"] = &openapi.Header{Description: `The key's limit: "key";q=<burst>;w=<seconds to refill it>`, Schema: map[string]any{"type": "string"}}
		case fiber.StatusUnauthorized:
			resp.Headers["WWW-Authenticate"] = &openapi.Header{Description: `Bearer realm="notebridge"`, Schema: map[string]any{"type": "string"}}
		}
		c.Responses[name] = resp
	}
	return c
}

// mimeProblem is the media type of every error body.

func problemSchema() map[string]any {
	str := map[string]any{"type": "string"}
	return map[string]any{
		"type":        "object",
		"description": "An RFC 9457 problem detail. Match on type, not on detail.",
		"required":    []string{"type", "title", "status"},
		"properties": map[string]any{
			"type":       map[string]any{"type": "string", "description": "Stable per class of error: urn:notebridge:problem:<slug>"},
			"title":      str,
			"status":     map[string]any{"type": "integer"},
			"detail":     str,
			"instance":   str,
			"request_id": str,
			"contract":   map[string]any{"type": "string", "description": "The contract version, as name/vN"},
			"code":       map[string]any{"type": "string", "description": "The worker's error code"},
			"errors":     map[string]any{"type": "array", "items": openapi.Ref("Violation"), "description": "Every violation of the request schema (422) or of the reply (502 invalid-reply)"},
			"line":       map[string]any{"type": "integer", "description": "Where the JSON breaks (400 malformed-json, too-deep)"},
			"column":     map[string]any{"type": "integer"},
			"job":        map[string]any{"type": "string", "description": "The job the problem is about (409 job-finished)"},
			"branches":   map[string]any{"type": "array", "items": openapi.Ref("CompositionOutcome"), "description": "A failed composition: how each branch ended"},
		},
	}
}

// compositionOutcomeSchema is how one branch of a composition ended
// (compose.Outcome).
var compositionOutcomeSchema = map[string]any{
	"type":        "object",
	"description": "How one branch (or one item of a map step) of a composed contract ended",
	"required":    []string{"step", "outcome", "status", "attempts", "duration_ms"},
	"properties": map[string]any{
		"step":         map[string]any{"type": "string"},
		"branch":       map[string]any{"type": "string", "description": "The branch of a parallel step"},
		"index":        map[string]any{"type": "integer", "description": "The item of a map step"},
		"outcome":      map[string]any{"type": "string", "enum": []string{"succeeded", "failed"}},
		"status":       map[string]any{"type": "integer", "description": "The HTTP status the branch's last attempt would have had on its own"},
		"attempts":     map[string]any{"type": "integer"},
		"duration_ms":  map[string]any{"type": "number"},
		"checkpointed": map[string]any{"type": "boolean", "description": "Job mode: taken from an earlier delivery's checkpoint, not called again"},
		"error": map[string]any{
			"type":       "object",
			"required":   []string{"type", "detail"},
			"properties": map[string]any{"type": map[string]any{"type": "string"}, "detail": map[string]any{"type": "string"}},
		},
	},
}

var jobStatusSchema = map[string]any{"type": "string", "enum": []string{"queued", "running", "succeeded", "failed", "cancelled"},
	"description": "succeeded, failed and cancelled are final"}

var jobSchema = map[string]any{
	"type":        "object",
	"description": "A job's record (docs/protocol.md, Job mode)",
	"required":    []string{"id", "contract", "status", "attempts", "created_at", "updated_at"},
	"properties": map[string]any{
		"id":       map[string]any{"type": "string"},
		"contract": map[string]any{"type": "string", "description": "name/vN"},
		"status":   jobStatusSchema,
		"progress": map[string]any{"type": "object", "required": []string{"fraction"}, "description": "What the worker last reported",
			"properties": map[string]any{"fraction": map[string]any{"type": "number", "minimum": 0, "maximum": 1}, "message": map[string]any{"type": "string"}}},
		"result": map[string]any{"description": "Once succeeded: the result, valid against the contract's response schema"},
		"error": map[string]any{"type": "object", "required": []string{"code", "message"},
			"description": "Failed: why. Queued after a failed attempt: why that attempt failed",
			"properties":  map[string]any{"code": map[string]any{"type": "string"}, "message": map[string]any{"type": "string"}}},
		"attempts": map[string]any{"type": "integer", "minimum": 0, "description": "Deliveries to a worker so far"},
		"usage": map[string]any{
			"type":        "object",
			"description": "What the handler reported, summed over every run of every delivery; absent when it reported nothing",
			"required":    []string{"runs", "input_tokens", "output_tokens", "cost"},
			"properties": map[string]any{
				"runs":          map[string]any{"type": "integer", "minimum": 1},
				"input_tokens":  map[string]any{"type": "integer", "minimum": 0},
				"output_tokens": map[string]any{"type": "integer", "minimum": 0},
				"cost":          map[string]any{"type": "number", "minimum": 0},
			},
		},
		"created_at": map[string]any{"type": "string", "format": "date-time"},
		"updated_at": map[string]any{"type": "string", "format": "date-time"},
		"request_id": map[string]any{"type": "string", "description": "The request id of the submission"},
	},
}

var jobAcceptedSchema = map[string]any{
	"type":     "object",
	"required": []string{"id", "status", "href"},
	"properties": map[string]any{
		"id":     map[string]any{"type": "string"},
		"status": jobStatusSchema,
		"href":   map[string]any{"type": "string", "description": "/jobs/{id}, also in Location"},
	},
}

var streamEndSchema = map[string]any{
	"type":     "object",
	"required": []string{"chunks"},
	"properties": map[string]any{
		"chunks":   map[string]any{"type": "integer", "minimum": 0, "description": "How many chunks the stream sent"},
		"attempts": map[string]any{"type": "integer", "minimum": 1, "description": "Contracts with repair: how many times the handler ran"},
		"usage": map[string]any{
			"type":        "object",
			"description": "What the handler reported, summed over every attempt",
			"required":    []string{"input_tokens", "output_tokens", "cost"},
			"properties": map[string]any{
				"input_tokens":  map[string]any{"type": "integer", "minimum": 0},
				"output_tokens": map[string]any{"type": "integer", "minimum": 0},
				"cost":          map[string]any{"type": "number", "minimum": 0},
			},
		},
		"verdict": map[string]any{
			"type":        "object",
			"description": "Contracts whose repair is verdict: whether the chunks sent passed the worker's checks, and what they broke",
			"required":    []string{"valid", "violations"},
			"properties": map[string]any{
				"valid":      map[string]any{"type": "boolean"},
				"violations": map[string]any{"type": "array", "items": openapi.Ref("Violation")},
			},
		},
	},
}

var violationSchema = map[string]any{
	"type":     "object",
	"required": []string{"instancePath", "keyword", "message"},
	"properties": map[string]any{
		"instancePath": map[string]any{"type": "string", "description": "JSON pointer of the offending value"},
		"keyword":      map[string]any{"type": "string"},
		"message":      map[string]any{"type": "string"},
	},
}

var catalogSchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"contracts": map[string]any{"type": "array", "items": map[string]any{
			"type": "object",
			"properties": map[string]any{
				"name":        map[string]any{"type": "string"},
				"description": map[string]any{"type": "string"},
				"latest":      map[string]any{"type": "integer"},
				"versions": map[string]any{"type": "array", "items": map[string]any{
					"type": "object",
					"properties": map[string]any{
						"version":         map[string]any{"type": "integer"},
						"mode":            map[string]any{"type": "string"},
						"deprecated":      map[string]any{"type": "boolean"},
						"timeout_seconds": map[string]any{"type": "number"},
						"digest":          map[string]any{"type": "string"},
						"href":            map[string]any{"type": "string"},
						"workers":         map[string]any{"type": "integer", "description": "Worker processes serving the version now"},
						"drifted_workers": map[string]any{"type": "integer", "description": "Those among them whose schemas differ from the gateway's"},
						"calls":           map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": "A composed contract: the contracts it calls; workers is then the fewest serving one of them"},
					},
				}},
			},
		}},
	},
}

// contractVersionSchema is what GET /api/{name}/v{N} answers (Describe),
// member for member: it admits no other, so a member added there and not
// here fails the test that validates live responses against the document.
var contractVersionSchema = map[string]any{
	"type":                 "object",
	"additionalProperties": false,
	"required": []string{"name", "version", "description", "mode", "deprecated", "timeout_seconds", "subject",
		"digest", "href", "request_schema", "response_schema", "schemas", "schema_sources", "examples"},
	"properties": map[string]any{
		"name":             map[string]any{"type": "string"},
		"version":          map[string]any{"type": "integer"},
		"description":      map[string]any{"type": "string"},
		"mode":             map[string]any{"type": "string", "enum": []contracts.Mode{contracts.ModeSync, contracts.ModeStream, contracts.ModeJob}},
		"deprecated":       map[string]any{"type": "boolean"},
		"timeout_seconds":  map[string]any{"type": "number"},
		"subject":          map[string]any{"type": "string"},
		"digest":           map[string]any{"type": "string"},
		"href":             map[string]any{"type": "string"},
		"max_attempts":     map[string]any{"type": "integer", "description": "Job contracts: how many times a job is delivered to a worker at most"},
		"ack_wait_seconds": map[string]any{"type": "number", "description": "Job contracts: how long a worker may go without a heartbeat before the job is delivered again"},
		"request_schema":   map[string]any{"type": "string", "description": "Key of the request schema in schemas"},
		"response_schema":  map[string]any{"type": "string", "description": "Key of the response schema in schemas"},
		"chunk_schema":     map[string]any{"type": "string", "description": "Stream contracts: key of the chunk schema in schemas"},
		"idle_timeout_seconds": map[string]any{"type": "number",
			"description": "Stream contracts: the longest silence between two messages of a stream before it fails"},
		"merge": map[string]any{
			"type":                 "object",
			"additionalProperties": false,
			"description":          "Stream contracts: how chunks make one reply for Accept: application/json (concat: a string member joined; collect: every chunk in one array member)",
			"properties": map[string]any{
				"concat":  map[string]any{"type": "string"},
				"collect": map[string]any{"type": "string"},
			},
		},
		"repair": map[string]any{
			"type":                 "object",
			"additionalProperties": false,
			"required":             []string{"max_attempts"},
			"description":          "Validate-and-repair: a reply that breaks the response schema or a worker's check is handed back to the handler with its violations, up to max_attempts calls in all, fewer once max_tokens or max_cost is spent",
			"properties": map[string]any{
				"max_attempts": map[string]any{"type": "integer"},
				"max_tokens":   map[string]any{"type": "integer"},
				"max_cost":     map[string]any{"type": "number"},
			},
		},
		"cache": map[string]any{
			"type":                 "object",
			"additionalProperties": false,
			"required":             []string{"ttl_seconds"},
			"description":          "A deterministic contract: an equal request (as canonical JSON) is answered from the cache for ttl_seconds",
			"properties":           map[string]any{"ttl_seconds": map[string]any{"type": "number"}},
		},
		"tenant": map[string]any{"type": "string",
			"description": "A tenant-scoped contract: the JSON pointer of the request member that names the tenant; a key bound to a tenant calls for it only"},
		"compose": map[string]any{"type": "object",
			"description": "A composed contract: the steps the gateway runs, calling other contracts (docs/contracts.md, Composed contracts)"},
		"schemas": map[string]any{"type": "object", "additionalProperties": map[string]any{},
			"description": "Every schema file the version reaches, by path relative to its manifest"},
		"schema_sources": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"},
			"description": "The same files, each as its exact text: the contract digest is computed from these"},
		"examples": map[string]any{"type": "array", "items": map[string]any{
			"type":     "object",
			"required": []string{"name", "request"},
			"properties": map[string]any{
				"name":     map[string]any{"type": "string"},
				"request":  map[string]any{"description": "A request valid against request_schema"},
				"response": map[string]any{"description": "The reply the request gets, if the example gives one"},
			},
		}},
	},
}

// ServeOpenAPI answers GET /openapi.json with the document of reg's
// contracts: first, rendered by New, then a new one each time the
// contracts are replaced (Registry.Generation), rendered once.
func ServeOpenAPI(reg *contracts.Registry, opts DocOptions, first []byte, log *slog.Logger) fiber.Handler {
	var mu sync.Mutex
	body, generation := first, reg.Generation()
	return func(c *fiber.Ctx) error {
		mu.Lock()
		if g := reg.Generation(); g != generation {
			generation = g
			doc, err := OpenAPI(reg, opts)
			if err == nil {
				var b []byte
				if b, err = json.Marshal(doc); err == nil {
					body = b
				}
			}
			if err != nil {
				log.Error("cannot render the OpenAPI document of the reloaded contracts; serving the previous one", "err", err)
			}
		}
		out := body
		mu.Unlock()
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(out)
	}
}
