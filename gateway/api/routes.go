package api

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// routes is the gateway's whole HTTP surface; docs/http-api.md documents it
// for people and GET /openapi.json (spec, rendered once by New) for tools.
func routes(app *fiber.App, cfg Config, spec []byte) {
	reg, nc, svc, log := cfg.Registry, cfg.Conn, cfg.Jobs, cfg.Logger

	app.Get("/healthz", Healthz())
	only(app, "/healthz", fiber.MethodGet)
	app.Get("/readyz", Readyz(reg, nc))
	only(app, "/readyz", fiber.MethodGet)

	app.Get("/openapi.json", ServeJSON(spec))
	only(app, "/openapi.json", fiber.MethodGet)
	app.Get("/docs", Docs())
	only(app, "/docs", fiber.MethodGet)

	app.Get("/api", Catalog(reg, nc, log))
	only(app, "/api", fiber.MethodGet)
	app.Get("/api/:name", Describe(reg))
	app.Post("/api/:name", Invoke(reg, nc, svc, log, cfg.Limits))
	only(app, "/api/:name", fiber.MethodGet, fiber.MethodPost)
	app.Get("/api/:name/:version", Describe(reg))
	app.Post("/api/:name/:version", Invoke(reg, nc, svc, log, cfg.Limits))
	only(app, "/api/:name/:version", fiber.MethodGet, fiber.MethodPost)
	if hasJobs(reg) {
		app.Post("/api/:name/:version/jobs", SubmitJob(reg, svc, cfg.Limits))
		only(app, "/api/:name/:version/jobs", fiber.MethodPost)
		app.Get("/jobs/:id", JobStatus(svc))
		app.Delete("/jobs/:id", CancelJob(svc))
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
