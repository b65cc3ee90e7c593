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
	// One array backs every value, so the headers cost one allocation
	// where a Header.Set each would cost four or five; the three-index
	// slices keep an append to one value from writing over the next.
	values := [...]string{requestID, wire.FormatDeadline(deadline), c.ID(), c.Digest, traceparent}
	hdr := make(nats.Header, len(values))
	hdr[wire.HeaderRequestID] = values[0:1:1]
	hdr[wire.HeaderDeadline] = values[1:2:2]
	hdr[wire.HeaderContract] = values[2:3:3]
	hdr[wire.HeaderContractDigest] = values[3:4:4]
	if traceparent != "" {
		hdr[wire.HeaderTraceparent] = values[4:5:5]
	}
	return &nats.Msg{Subject: c.Subject, Header: hdr, Data: body}
}
