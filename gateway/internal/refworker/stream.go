package refworker

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/wire"
)

// tokensRequest is the request of a stream test contract: its words come
// back one chunk each, delay apart, unless behavior says otherwise.
type tokensRequest struct {
	Text     string `json:"text"`
	DelayMS  int    `json:"delay_ms"`
	Behavior string `json:"behavior"` // "", "fail", "die", "bad_chunk", "fail_first"
}

// stream answers a stream contract: one chunk {"text": word} per word,
// heartbeats while it waits, then the end. It stops when the gateway
// publishes to its cancel subject.
func (w *worker) stream(ct *contracts.Contract, req micro.Request) {
	if !w.admit(ct, req) {
		return
	}
	var in tokensRequest
	if err := json.Unmarshal(req.Data(), &in); err != nil {
		w.respondError(req, wire.CodeInvalidRequest, err.Error())
		return
	}
	if in.Behavior == "fail_first" && in.DelayMS == 0 {
		w.respondError(req, "tokens_failed", "failed before the first token")
		return
	}
	requestID := req.Headers().Get(wire.HeaderRequestID)
	cancelled := make(chan struct{})
	cancelSubject := w.nc.NewRespInbox()
	sub, err := w.nc.Subscribe(cancelSubject, func(*nats.Msg) {
		w.cancelled(requestID)
		close(cancelled)
	})
	if err != nil {
		w.respondError(req, wire.CodeInternal, err.Error())
		return
	}
	sub.AutoUnsubscribe(1)
	defer sub.Unsubscribe() //nolint:errcheck // gone already after a cancel

	send := func(kind string, data []byte, hdr nats.Header) bool {
		msg := nats.NewMsg(req.Reply())
		msg.Data = data
		for k, v := range hdr {
			msg.Header[k] = v
		}
		msg.Header.Set(wire.HeaderStream, kind)
		msg.Header.Set(wire.HeaderCancel, cancelSubject)
		if w.nc.PublishMsg(msg) != nil {
			return false
		}
		w.sent(kind)
		return true
	}
	heartbeatEvery := wire.HeartbeatInterval(ct.IdleTimeout)
	if in.Behavior == "fail_first" { // after a delay: heartbeats, then the error, still before any chunk
		for waited := time.Duration(0); waited < time.Duration(in.DelayMS)*time.Millisecond; waited += heartbeatEvery {
			time.Sleep(heartbeatEvery)
			send(wire.StreamHeartbeat, nil, nil)
		}
		send(wire.StreamError, nil, nats.Header{
			wire.HeaderServiceErrorCode: {"tokens_failed"},
			wire.HeaderServiceError:     {"failed before the first token"},
		})
		return
	}
	wait := func(d time.Duration) bool { // false when cancelled
		for d > 0 {
			step := min(d, heartbeatEvery)
			select {
			case <-cancelled:
				return false
			case <-time.After(step):
			}
			d -= step
			if d > 0 && !send(wire.StreamHeartbeat, nil, nil) {
				return false
			}
		}
		return true
	}
	for i, word := range strings.Fields(in.Text) {
		if i > 0 && !wait(time.Duration(in.DelayMS)*time.Millisecond) {
			return
		}
		switch {
		case i == 1 && in.Behavior == "die":
			return // silent, as a killed process is
		case i == 1 && in.Behavior == "fail":
			send(wire.StreamError, nil, nats.Header{
				wire.HeaderServiceErrorCode: {"tokens_failed"},
				wire.HeaderServiceError:     {"failed after the first token"},
			})
			return
		}
		chunk, _ := json.Marshal(map[string]any{"text": word + " "})
		if i == 1 && in.Behavior == "bad_chunk" {
			chunk = []byte(`{"text": 5}`)
		}
		if !send(wire.StreamChunk, chunk, nats.Header{wire.HeaderSeq: {strconv.Itoa(i + 1)}}) {
			return
		}
	}
	send(wire.StreamEnd, nil, nats.Header{wire.HeaderSeq: {strconv.Itoa(len(strings.Fields(in.Text)))}})
}
