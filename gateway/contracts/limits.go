package contracts

import (
	"errors"
	"fmt"
)

// Limits bound what a JSON document may hold. They are checked in one
// linear pass over the bytes before any decoder or validator runs, so a
// hostile document costs time in proportion to its size, never more.
type Limits struct {
	// MaxDepth is how many arrays and objects may nest: {"a":[1]} is 2 deep.
	MaxDepth int
	// MaxNumberDigits is how many digits a number may have before its
	// exponent (see InNumberDomain).
	MaxNumberDigits int
}

// The defaults and bounds of Limits.
const (
	// DefaultMaxDepth is the nesting a request or reply may have unless
	// configured: ample for API payloads, far below what makes decoders slow.
	DefaultMaxDepth = 64
	// DefaultMaxNumberDigits is the digits a request's number may have
	// unless configured.
	DefaultMaxNumberDigits = 100
	// MaxNumberDigitsCeiling is the most digits any number may have: what
	// Python turns into an int without raising (sys.get_int_max_str_digits).
	// Replies and chunks are held to it, as the worker holds them.
	MaxNumberDigitsCeiling = 4300
	// MaxDepthCeiling keeps the configured depth where Go's and Python's
	// decoders still work in linear time and bounded stack.
	MaxDepthCeiling = 1000
)

// DefaultLimits are the limits of requests unless configured.
var DefaultLimits = Limits{MaxDepth: DefaultMaxDepth, MaxNumberDigits: DefaultMaxNumberDigits}

// ErrInvalidLimits is wrapped by every error Limits.Validate returns.
var ErrInvalidLimits = errors.New("invalid limits")

// Validate reports a limit outside its range.
func (l Limits) Validate() error {
	switch {
	case l.MaxDepth < 1 || l.MaxDepth > MaxDepthCeiling:
		return fmt.Errorf("%w: depth %d is not between 1 and %d", ErrInvalidLimits, l.MaxDepth, MaxDepthCeiling)
	case l.MaxNumberDigits < 1 || l.MaxNumberDigits > MaxNumberDigitsCeiling:
		return fmt.Errorf("%w: number digits %d is not between 1 and %d", ErrInvalidLimits, l.MaxNumberDigits, MaxNumberDigitsCeiling)
	}
	return nil
}

// ForReplies returns the limits a worker's reply or chunk is held to: the
// same depth, and every number the worker itself may send.
func (l Limits) ForReplies() Limits {
	return Limits{MaxDepth: l.MaxDepth, MaxNumberDigits: MaxNumberDigitsCeiling}
}
