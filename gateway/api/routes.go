package api

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/notebridge/notebridge/gateway/compose"
)

// routes is the gateway's whole HTTP surface; docs/http-api.md documents it
// for people and GET /openapi.json (spec, rendered by New, then again when
// the contracts are reloaded) for tools.
// It returns the methods each path serves, for unknownMethods.
func routes(app *fiber.App, cfg Config, spec []byte) []allowRule {
	reg, svc, log := cfg.Registry, cfg.Jobs, cfg.Logger
	b := newBroker(cfg.Conn)
	acc := newAccountant(cfg.Budgets, cfg.Ledger, log)
	app.Hooks().OnShutdown(func() error { acc.close(ledgerWait); return nil })
	if svc != nil { // this gateway runs the composed job contracts' jobs
		runner := compose.StartJobs(b.nc, svc.JetStream(), reg, branchCaller(b, log, cfg.Limits, "", "", nil), svc.TTL(), log)
		app.Hooks().OnShutdown(func() error { runner.Stop(); return nil })
	}
	// keyed puts RequireKey before the routes that call workers or read
	// jobs; the catalog, the documents and the probes stay open.
	keyed := func(h fiber.Handler) []fiber.Handler { return []fiber.Handler{h} }
	if cfg.Keys != nil {
		guard := RequireKey(cfg.Keys, cfg.RateLimiter)
		keyed = func(h fiber.Handler) []fiber.Handler { return []fiber.Handler{guard, h} }
	}
	// call is a route that calls a contract: keyed, admitted within the
	// in-flight bounds, and its outcome recorded in the metrics.
	track := trackCalls(newAdmission(cfg.MaxInflight, cfg.MaxInflightPerContract), cfg.Metrics, cfg.TracerProvider)
	call := func(h fiber.Handler) []fiber.Handler { return append([]fiber.Handler{track}, keyed(h)...) }
	var allows []allowRule
	only := func(path string, methods ...string) { allows = append(allows, serveOnly(app, path, methods...)) }

	app.Get("/healthz", Healthz())
	only("/healthz", fiber.MethodGet)
	app.Get("/readyz", Readyz(reg, b, svc))
	only("/readyz", fiber.MethodGet)

	app.Get("/metrics", cfg.Metrics.Handler())
	only("/metrics", fiber.MethodGet)
	app.Get("/openapi.json", ServeOpenAPI(reg, DocOptions{Keys: cfg.Keys != nil, Usage: cfg.Ledger != nil}, spec, log))
	only("/openapi.json", fiber.MethodGet)
	app.Get("/docs", Docs())
	only("/docs", fiber.MethodGet)

	app.Get("/api", Catalog(reg, b.nc, log))
	only("/api", fiber.MethodGet)
	app.Get("/api/:name", Describe(reg))
	app.Post("/api/:name", call(Invoke(reg, b, svc, cfg.Cache, acc, log, cfg.Limits))...)
	only("/api/:name", fiber.MethodGet, fiber.MethodPost)
	app.Get("/api/:name/:version", Describe(reg))
	app.Post("/api/:name/:version", call(Invoke(reg, b, svc, cfg.Cache, acc, log, cfg.Limits))...)
	only("/api/:name/:version", fiber.MethodGet, fiber.MethodPost)
	if reg.HasJobs() {
		app.Post("/api/:name/:version/jobs", call(SubmitJob(reg, b, svc, cfg.Limits))...)
		only("/api/:name/:version/jobs", fiber.MethodPost)
		app.Get("/jobs", keyed(ListJobs(reg, b, svc))...)
		only("/jobs", fiber.MethodGet)
		app.Get("/jobs/:id", keyed(JobStatus(b, svc))...)
		app.Delete("/jobs/:id", keyed(CancelJob(b, svc))...)
		only("/jobs/:id", fiber.MethodGet, fiber.MethodDelete)
	}

	if cfg.Ledger != nil {
		app.Get("/usage", keyed(Usage(cfg.Ledger))...)
		only("/usage", fiber.MethodGet)
	}

	app.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })
	return allows
}

// allowRule is a path pattern and the methods it serves, as an Allow header.
type allowRule struct{ path, allow string }

// serveOnly answers 405 with an Allow header for every method a path does
// not serve. Register it after the path's handlers: Fiber tries routes in
// order.
func serveOnly(app *fiber.App, path string, methods ...string) allowRule {
	allow := strings.Join(methods, ", ")
	app.All(path, func(c *fiber.Ctx) error { return methodNotAllowed(c.Method(), allow) })
	return allowRule{path: path, allow: allow}
}
