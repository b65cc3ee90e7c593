package contracts

import (
	"time"

	"github.com/nats-io/nats.go"

	"github.com/notebridge/notebridge/gateway/wire"
)

// NewRequest builds the NATS message that calls c: body as given (the
// client's bytes, never a re-encoding) and the request headers of
// docs/protocol.md. The gateway and `notebridge contracts test` both send
// what it returns, so a contract test sees exactly what a worker sees in
// production. traceparent may be "".
func (c *Contract) NewRequest(body []byte, requestID string, deadline time.Time, traceparent string) *nats.Msg {
	msg := nats.NewMsg(c.Subject)
	msg.Data = body
	msg.Header.Set(wire.HeaderRequestID, requestID)
	msg.Header.Set(wire.HeaderDeadline, wire.FormatDeadline(deadline))
	msg.Header.Set(wire.HeaderContract, c.ID())
	msg.Header.Set(wire.HeaderContractDigest, c.Digest)
	if traceparent != "" {
		msg.Header.Set(wire.HeaderTraceparent, traceparent)
	}
	return msg
}
