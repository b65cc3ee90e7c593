//go:build !unix

package api

import "github.com/gofiber/fiber/v2"

// watchHangup does not watch where the socket cannot be peeked at: a client
// that leaves is noticed when the answer is written.
func watchHangup(*fiber.Ctx) (gone <-chan struct{}, stop func()) {
	return nil, func() {}
}
