package api

import "github.com/gofiber/fiber/v2"

// problemClass is one class of problem: its type (urn:notebridge:problem:
// and the slug), title and status, and what docs/http-api.md says of it.
// The constructors of problem.go, the OpenAPI responses and the table of
// docs/http-api.md all come from the classes below (TestDocsListEveryProblem
// checks the table, and rewrites it with -update).
type problemClass struct {
	slug   string
	status int
	title  string
	// when and members are the table's columns: when a client gets it,
	// and the members (or headers) it carries beyond type, title, status,
	// detail, instance and request_id.
	when, members string
}

// The catalog, in the table's order.
var (
	probMalformedJSON = problemClass{"malformed-json", fiber.StatusBadRequest, "Malformed JSON",
		"the body is not one JSON value, or not Unicode text: invalid UTF-8 (overlong forms and encoded surrogates included) or a `\\u` escape of a lone surrogate, which a decoder would turn into U+FFFD",
		"`line`, `column`"}
	probTooDeep = problemClass{"too-deep", fiber.StatusBadRequest, "JSON nested too deep",
		"arrays and objects nest deeper than `-max-depth` (default 64); found in one pass before any decoder runs",
		"`line`, `column`"}
	probInvalidHeader = problemClass{"invalid-header", fiber.StatusBadRequest, "Invalid header",
		"`Request-Timeout` is not a decimal number of seconds of at least 0.001; `Idempotency-Key` or `Callback-Url` is malformed", ""}
	probInvalidQuery = problemClass{"invalid-query", fiber.StatusBadRequest, "Invalid query",
		"a query parameter of `GET /jobs` (`contract`, `status`, `limit`, `cursor`) is not one it takes", ""}
	probMalformedRequest = problemClass{"malformed-request", fiber.StatusBadRequest, "Malformed request",
		"the request line or headers are not valid HTTP/1.1, or could be framed two ways (see Limits); the connection is closed after the answer", ""}
	probUnauthorized = problemClass{"unauthorized", fiber.StatusUnauthorized, "Unauthorized",
		"a call or job route without an API key, or with one the gateway does not know (malformed, never issued, revoked), when the gateway runs with `-auth keys`",
		"`WWW-Authenticate` header"}
	probForbidden = problemClass{"forbidden", fiber.StatusForbidden, "Forbidden",
		"the API key is not allowed to call this contract version, or is bound to a tenant (`keys create -tenant`) and the request of a tenant-scoped contract is for another", "`contract`"}
	probNotFound = problemClass{"not-found", fiber.StatusNotFound, "Not found",
		"unknown route, contract or version; unknown or expired job; the jobs route of a contract that is not a job contract", ""}
	probMethodNotAllowed = problemClass{"method-not-allowed", fiber.StatusMethodNotAllowed, "Method not allowed",
		"wrong method for the path, a method the gateway does not know included", "`Allow` header"}
	probNotAcceptable = problemClass{"not-acceptable", fiber.StatusNotAcceptable, "Not acceptable",
		"`Accept: application/json` on a stream contract that declares no merge", "`contract`"}
	probJobFinished = problemClass{"job-finished", fiber.StatusConflict, "Job already finished",
		"`DELETE /jobs/{id}` of a job that succeeded or failed", "`contract`, `job`"}
	probBodyTooLarge = problemClass{"body-too-large", fiber.StatusRequestEntityTooLarge, "Body too large",
		"body over the limit (default 1 MiB)", ""}
	probUnsupportedMediaType = problemClass{"unsupported-media-type", fiber.StatusUnsupportedMediaType, "Unsupported media type",
		"`Content-Type` is not JSON", ""}
	probInvalidRequest = problemClass{"invalid-request", fiber.StatusUnprocessableEntity, "Request breaks the contract",
		"the body breaks the request schema, or holds numbers outside the numeric domain (keyword `numberDomain`, one per number; then the schema is not checked)",
		"`contract`, `errors`: every violation"}
	probIdempotencyKeyReused = problemClass{"idempotency-key-reused", fiber.StatusUnprocessableEntity, "Idempotency key reused",
		"the `Idempotency-Key` was first sent with another contract or body", "`contract`"}
	probCallbackNotAllowed = problemClass{"callback-not-allowed", fiber.StatusUnprocessableEntity, "Callback not allowed",
		"the `Callback-Url` host is not in `-webhook-allow` (the detail names it)", ""}
	probBudgetExhausted = problemClass{"budget-exhausted", fiber.StatusPaymentRequired, "Budget exhausted",
		"a budget of the API key that applies to the contract (`notebridge keys create -budget`) is spent for its period, counted across every gateway replica; sync and stream calls",
		"`contract`, `budget`, `resets_at`, `Retry-After` header"}
	probRateLimited = problemClass{"rate-limited", fiber.StatusTooManyRequests, "Rate limited",
		"the API key has spent its rate (`notebridge keys create -rate -burst`), counted across every gateway replica",
		"`Retry-After`, `RateLimit`, `RateLimit-Policy` headers"}
	probHeadersTooLarge = problemClass{"headers-too-large", fiber.StatusRequestHeaderFieldsTooLarge, "Headers too large",
		"request line and headers over `-header-limit` (default 4 KiB)", ""}
	probClientClosed = problemClass{"client-closed-request", statusClientClosed, "Client closed request",
		"in the access log only: a stream call whose client left before its answer started; no client reads it", "`contract`"}
	probInternal = problemClass{"internal", fiber.StatusInternalServerError, "Internal error",
		"a gateway bug: a handler failed or panicked. The process goes on; the log has the error, or the panic and its stack, under the request id; the body says nothing more", ""}
	probNotImplemented = problemClass{"not-implemented", fiber.StatusNotImplemented, "Method not implemented",
		"a method the gateway does not know, on a path it does not serve", ""}
	probWorkerError = problemClass{"worker-error", fiber.StatusBadGateway, "Worker error",
		"the handler failed; `code` is the worker's error code (`internal` for an unexpected exception, whose traceback stays in the worker's log)",
		"`contract`, `code`"}
	probInvalidReply = problemClass{"invalid-reply", fiber.StatusBadGateway, "Reply breaks the contract",
		"the reply broke the response schema, caught by the worker or by the gateway; `errors` lists every violation with its JSON pointer (a reply that is not JSON at all has none: the logs say more under the request id)",
		"`contract`, `errors`"}
	probContractDrift = problemClass{"contract-drift", fiber.StatusBadGateway, "Contract drift",
		"the worker holds other schemas than the gateway (digests differ)", "`contract`, `code`"}
	probWorkerLost = problemClass{"worker-lost", fiber.StatusBadGateway, "Worker lost",
		"a streaming worker went silent for the contract's idle timeout (an `error` event)", "`contract`"}
	probNoWorker = problemClass{"no-worker", fiber.StatusServiceUnavailable, "No worker available",
		"no worker serves the contract version", "`contract`, `Retry-After`"}
	probWorkerBusy = problemClass{"worker-busy", fiber.StatusServiceUnavailable, "Workers busy",
		"the worker is at its in-flight limit", "`contract`, `Retry-After`"}
	probBrokerUnavailable = problemClass{"broker-unavailable", fiber.StatusServiceUnavailable, "Broker unavailable",
		"the gateway is not connected to NATS: answered at once, not at the deadline, also to a call in flight when the connection drops (a stream that has started ends with an `error` event of this type). For job routes also: job mode's JetStream objects are not in place, the `detail` says why (see Configuration). With `-auth keys`: the API keys are not loaded yet",
		"`Retry-After`"}
	probOverloaded = problemClass{"overloaded", fiber.StatusServiceUnavailable, "Overloaded",
		"shed at once rather than left to time out: the contract version has `-max-inflight-per-contract` calls in flight, or the gateway `-max-inflight`, or the contract's calls typically take longer than this call's deadline (the detail says which)",
		"`contract`, `Retry-After`"}
	probDeadlineExceeded = problemClass{"deadline-exceeded", fiber.StatusGatewayTimeout, "Deadline exceeded",
		"no reply before the deadline", "`contract`"}
	// probHTTPError is an error of the HTTP server library that no class
	// above covers: its status and title are the library's.
	probHTTPError = problemClass{"http-error", 0, "",
		"an error of the HTTP server itself that no row above covers, with that status and its reason phrase as the title; none is known to reach a client", ""}
)

// problemClasses is the catalog, in the order of docs/http-api.md.
var problemClasses = []*problemClass{
	&probMalformedJSON, &probTooDeep, &probInvalidHeader, &probInvalidQuery, &probMalformedRequest,
	&probUnauthorized, &probForbidden, &probNotFound, &probMethodNotAllowed, &probNotAcceptable, &probJobFinished,
	&probBodyTooLarge, &probUnsupportedMediaType,
	&probInvalidRequest, &probIdempotencyKeyReused, &probCallbackNotAllowed,
	&probBudgetExhausted, &probRateLimited, &probHeadersTooLarge, &probClientClosed, &probInternal, &probNotImplemented,
	&probWorkerError, &probInvalidReply, &probContractDrift, &probWorkerLost,
	&probNoWorker, &probWorkerBusy, &probBrokerUnavailable, &probOverloaded, &probDeadlineExceeded,
	&probHTTPError,
}

// problemResponses are the OpenAPI document's shared problem+json
// responses, by component name.
var problemResponses = map[string][]*problemClass{
	"BadRequest":           {&probMalformedJSON, &probTooDeep, &probInvalidHeader, &probMalformedRequest},
	"InvalidQuery":         {&probInvalidQuery},
	"Unauthorized":         {&probUnauthorized},
	"Forbidden":            {&probForbidden},
	"RateLimited":          {&probRateLimited},
	"BudgetExhausted":      {&probBudgetExhausted},
	"NotFound":             {&probNotFound},
	"NotAcceptable":        {&probNotAcceptable},
	"JobFinished":          {&probJobFinished},
	"BodyTooLarge":         {&probBodyTooLarge},
	"UnsupportedMediaType": {&probUnsupportedMediaType},
	"InvalidRequest":       {&probInvalidRequest},
	"JobRejected":          {&probInvalidRequest, &probIdempotencyKeyReused, &probCallbackNotAllowed},
	"BadGateway":           {&probWorkerError, &probInvalidReply, &probContractDrift, &probWorkerLost},
	"Unavailable":          {&probNoWorker, &probWorkerBusy, &probBrokerUnavailable, &probOverloaded},
	"DeadlineExceeded":     {&probDeadlineExceeded},
}

// problemType builds the stable type URI of a class of problem.
func problemType(slug string) string { return "urn:notebridge:problem:" + slug }

// new makes a problem of the class.
func (c *problemClass) new(detail string) *Problem {
	return &Problem{Type: problemType(c.slug), Title: c.title, Status: c.status, Detail: detail}
}
