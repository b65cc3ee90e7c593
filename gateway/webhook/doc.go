// Package webhook signs, verifies and delivers the HTTP callbacks the
// gateway sends when a job ends (docs/http-api.md, "Webhooks").
//
// A receiver written in Go verifies a callback with VerifySignature:
//
//	body, _ := io.ReadAll(r.Body)
//	err := webhook.VerifySignature(secret, r.Header.Get(webhook.HeaderSignature), body, 5*time.Minute)
package webhook
