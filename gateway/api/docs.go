package api

import (
	"crypto/sha256"
	_ "embed" // the docs page
	"encoding/base64"
	"regexp"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// docsPage is GET /docs: one HTML file with its script and styles inline,
// so it works where the browser reaches nothing but the gateway.
//
//go:embed docs.html
var docsPage []byte

// inlineBlock finds the inline <script> and <style> blocks of the page.
var inlineBlock = regexp.MustCompile(`(?s)<(script|style)>(.*?)</(?:script|style)>`)

// docsPolicy is the page's Content-Security-Policy: it may run only its
// own inline script and styles (by hash), and talk only to the gateway.
var docsPolicy = func() string {
	var scripts, styles []string
	for _, m := range inlineBlock.FindAllSubmatch(docsPage, -1) {
		sum := sha256.Sum256(m[2])
		hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if string(m[1]) == "script" {
			scripts = append(scripts, hash)
		} else {
			styles = append(styles, hash)
		}
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src " + strings.Join(scripts, " "),
		"style-src " + strings.Join(styles, " "),
		"connect-src 'self'",
		"img-src data:",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}()

// Docs serves the page for product engineers: the contracts, their
// versions, schemas and examples from /api, whether workers are live, and
// a form that sends a request and shows the reply or the problem.
func Docs() fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		c.Set(fiber.HeaderContentSecurityPolicy, docsPolicy)
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		return c.Send(docsPage)
	}
}
