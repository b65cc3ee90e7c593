package api

import "time"

// Request-Timeout is a positive decimal number of seconds: digits with an
// optional fraction ("2", "0.5"), at least minRequestTimeout and at most
// maxRequestTimeoutLen characters (requestTimeout in invoke.go reads it).
const (
	minRequestTimeout    = time.Millisecond
	maxRequestTimeoutLen = 16
	// requestTimeoutPattern is the same rule for the OpenAPI document, with
	// maxLength: a decimal whose integer part is not zero, or whose
	// fraction has a non-zero digit among its first three (>= 0.001).
	requestTimeoutPattern = `^(?:0*[1-9][0-9]*(?:\.[0-9]+)?|0+\.(?:[1-9]|0[1-9]|00[1-9])[0-9]*)$`
)

// isDecimal reports whether s is 1*DIGIT [ "." 1*DIGIT ], no longer than
// maxRequestTimeoutLen.
func isDecimal(s string) bool {
	if len(s) == 0 || len(s) > maxRequestTimeoutLen {
		return false
	}
	digits, point := 0, false
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch >= '0' && ch <= '9':
			digits++
		case ch == '.' && !point && digits > 0:
			point, digits = true, 0
		default:
			return false
		}
	}
	return digits > 0
}
