package refworker

import (
	"encoding/json"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/notebridge/notebridge/gateway/wire"
)

// The handlers answer from goroutines of their own, after micro's handler
// func has returned and while micro reads the request's error state for
// its stats; answering through micro.Request would write that state from
// another goroutine (a data race the race detector reports). So they
// publish to the reply subject themselves, as micro.Request would.

// respond sends data as the reply.
func (w *worker) respond(req micro.Request, data []byte) {
	_ = w.nc.PublishMsg(&nats.Msg{Subject: req.Reply(), Data: data})
}

// respondJSON sends v, as JSON, as the reply.
func (w *worker) respondJSON(req micro.Request, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		w.respondError(req, wire.CodeInternal, err.Error())
		return
	}
	w.respond(req, data)
}

// respondError sends a NATS micro error reply: no data, the code and
// description in the service error headers.
func (w *worker) respondError(req micro.Request, code, description string) {
	msg := nats.NewMsg(req.Reply())
	msg.Header.Set(wire.HeaderServiceError, description)
	msg.Header.Set(wire.HeaderServiceErrorCode, code)
	_ = w.nc.PublishMsg(msg)
}
