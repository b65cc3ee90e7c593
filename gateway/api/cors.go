package api

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
)

// corsMaxAge is how long a browser may keep a preflight's answer, seconds.
const corsMaxAge = 600

// CORS lets browser apps on the given origins call the gateway: a
// preflight (OPTIONS with Access-Control-Request-Method) answers 204 with
// the methods and headers the gateway reads, and every answer names the
// origin and the headers a page may read. Other origins get no CORS
// headers, so their browsers refuse the answer.
func CORS(origins []string) fiber.Handler {
	return cors.New(cors.Config{
		AllowOrigins: strings.Join(origins, ","),
		AllowMethods: strings.Join([]string{fiber.MethodGet, fiber.MethodPost, fiber.MethodDelete, fiber.MethodHead}, ","),
		AllowHeaders: strings.Join([]string{fiber.HeaderAuthorization, fiber.HeaderContentType, fiber.HeaderAccept,
			HeaderRequestTimeout, HeaderRequestID, HeaderIdempotencyKey, HeaderCallbackURL, "traceparent"}, ","),
		ExposeHeaders: strings.Join([]string{HeaderRequestID, fiber.HeaderLocation, fiber.HeaderRetryAfter,
			HeaderIdempotentReplayed, fiber.HeaderWWWAuthenticate, "RateLimit", "RateLimit-Policy"}, ","),
		MaxAge: corsMaxAge,
	})
}

// ParseOrigins reads -cors-origins: comma-separated origins such as
// https://shop.example.com, or * for any.
func ParseOrigins(s string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(s, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if o != "*" {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
				return nil, fmt.Errorf("%q is not an origin such as https://shop.example.com", o)
			}
		}
		out = append(out, o)
	}
	return out, nil
}
