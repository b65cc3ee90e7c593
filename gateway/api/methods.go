package api

import (
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/valyala/fasthttp"
)

// unknownMethods wraps the fasthttp handler of app so that a method Fiber
// does not know (QUERY, FOO) is answered like every other error: Fiber
// would answer it before any middleware, with a plain-text 400 and no
// request id. On a path the gateway serves it is 405 with that path's
// Allow header; elsewhere, 501. Register it once the routes are.
func unknownMethods(app *fiber.App, allows []allowRule, log *slog.Logger, bodyLimit int) {
	known := app.Config().RequestMethods
	cfg := app.Config()
	srv := app.Server()
	next := srv.Handler
	srv.Handler = func(rctx *fasthttp.RequestCtx) {
		if slices.Contains(known, utils.UnsafeString(rctx.Method())) {
			next(rctx)
			return
		}
		start := time.Now()
		c := app.AcquireCtx(rctx)
		defer app.ReleaseCtx(c)
		p := headProblem(&rctx.Request.Header, bodyLimit)
		if p == nil {
			p = notImplemented(c.Method())
			path := c.Path()
			if !cfg.StrictRouting && len(path) > 1 {
				path = strings.TrimSuffix(path, "/")
			}
			for _, rule := range allows {
				if fiber.RoutePatternMatch(path, rule.path, cfg) {
					p = methodNotAllowed(c.Method(), rule.allow)
					break
				}
			}
		}
		_ = app.ErrorHandler(c, p)
		logRequest(log.Handler(), c, p.Status, start)
	}
}
