package api

import (
	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"

	"github.com/notebridge/notebridge/gateway/contracts"
)

// Healthz answers 200 while the process serves HTTP.
func Healthz() fiber.Handler {
	return func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	}
}

// Readyz answers 200 when contracts are loaded and NATS is connected, and
// 503 otherwise, so a load balancer stops sending traffic during an outage.
func Readyz(reg *contracts.Registry, nc *nats.Conn) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !nc.IsConnected() {
			return natsUnavailable(nc.Status().String())
		}
		return c.JSON(fiber.Map{"status": "ready", "contracts": len(reg.All()), "nats": nc.ConnectedUrlRedacted()})
	}
}
