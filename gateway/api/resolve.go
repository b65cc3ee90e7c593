package api

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/notebridge/notebridge/gateway/contracts"
)

// contractOf finds the contract a route names: ":name" alone means the
// latest non-deprecated version, ":name/:version" (v1, v2, ...) that version.
func contractOf(reg *contracts.Registry, c *fiber.Ctx) (*contracts.Contract, error) {
	name := c.Params("name")
	raw := c.Params("version")
	if raw == "" {
		ct, err := reg.Latest(name)
		if err != nil {
			return nil, notFound(err.Error())
		}
		return ct, nil
	}
	version, err := strconv.Atoi(strings.TrimPrefix(raw, "v"))
	if !strings.HasPrefix(raw, "v") || err != nil || version < 1 {
		return nil, notFound(fmt.Sprintf("%q is not a version; versions look like v1, v2", raw))
	}
	ct, err := reg.Lookup(name, version)
	if errors.Is(err, contracts.ErrUnknownContract) || errors.Is(err, contracts.ErrUnknownVersion) {
		return nil, notFound(err.Error())
	}
	return ct, err
}
