package api

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// routes is the gateway's whole HTTP surface; docs/http-api.md documents it
// for people and GET /openapi.json (spec, rendered once by New) for tools.
func routes(app *fiber.App, cfg Config, spec []byte) {
	reg, svc, log := cfg.Registry, cfg.Jobs, cfg.Logger
	b := newBroker(cfg.Conn)

	app.Get("/healthz", Healthz())
	only(app, "/healthz", fiber.MethodGet)
	app.Get("/readyz", Readyz(reg, b, svc))
	only(app, "/readyz", fiber.MethodGet)

	app.Get("/openapi.json", ServeJSON(spec))
	only(app, "/openapi.json", fiber.MethodGet)
	app.Get("/docs", Docs())
	only(app, "/docs", fiber.MethodGet)

	app.Get("/api", Catalog(reg, b.nc, log))
	only(app, "/api", fiber.MethodGet)
	app.Get("/api/:name", Describe(reg))
	app.Post("/api/:name", Invoke(reg, b, svc, log))
	only(app, "/api/:name", fiber.MethodGet, fiber.MethodPost)
	app.Get("/api/:name/:version", Describe(reg))
	app.Post("/api/:name/:version", Invoke(reg, b, svc, log))
	only(app, "/api/:name/:version", fiber.MethodGet, fiber.MethodPost)
	if hasJobs(reg) {
		app.Post("/api/:name/:version/jobs", SubmitJob(reg, b, svc))
		only(app, "/api/:name/:version/jobs", fiber.MethodPost)
		app.Get("/jobs/:id", JobStatus(b, svc))
		app.Delete("/jobs/:id", CancelJob(b, svc))
		only(app, "/jobs/:id", fiber.MethodGet, fiber.MethodDelete)
	}

	app.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })
}

// only answers 405 with an Allow header for every method a path does not
// serve. Register it after the path's handlers: Fiber tries routes in order.
func only(app *fiber.App, path string, methods ...string) {
	allow := strings.Join(methods, ", ")
	app.All(path, func(c *fiber.Ctx) error { return methodNotAllowed(c.Method(), allow) })
}
