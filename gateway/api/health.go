package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/internal/redact"
	"github.com/notebridge/notebridge/gateway/jobs"
)

// Healthz answers 200 while the process serves HTTP.
func Healthz() fiber.Handler {
	return func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	}
}

// Readyz answers 200 when contracts are loaded, NATS is connected and, with
// job contracts, job mode's JetStream objects are in place; otherwise 503
// with the reason, so a load balancer stops sending traffic meanwhile. svc
// may be nil when no contract is a job contract. The NATS server's URL is
// shown without its credentials.
func Readyz(reg *contracts.Registry, b *broker, svc *jobs.Service) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if _, p := b.link(); p != nil {
			return p
		}
		if svc != nil {
			if err := svc.Ready(); err != nil {
				return jobModeNotReady(err)
			}
		}
		return c.JSON(fiber.Map{"status": "ready", "contracts": len(reg.All()), "nats": redact.URLs(b.nc.ConnectedUrl())})
	}
}
