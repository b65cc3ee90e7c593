package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/wire"
)

// streamBuffer bounds the chunks waiting between NATS and a slow HTTP client;
// past it NATS marks the subscription a slow consumer rather than grow memory.
const streamBuffer = 256

// relayStream calls a stream contract. The first message decides the
// answer: an error before any chunk is an ordinary problem+json; after the
// first chunk the client gets Server-Sent Events, or, when it asked for
// application/json, the chunks merged into one reply. A client that leaves
// before its answer starts is noticed on its socket, and the worker told
// to stop, as the SSE relay does between chunks.
func relayStream(c *fiber.Ctx, b *broker, acc *accountant, log *slog.Logger, k *call) error {
	wantJSON := prefersJSON(c.Get(fiber.HeaderAccept))
	if wantJSON && k.ct.Merge == nil {
		return notAcceptable(k.ct)
	}
	l, p := b.link()
	if p != nil {
		return p
	}
	res, err := acc.reserve(c, k)
	if err != nil {
		return err
	}
	who := owner(c)
	s, err := openStream(b.nc, l, log, k)
	if err != nil {
		acc.settle(k, who, res, accounts{})
		return err
	}
	m := tracked(c).metrics
	// The stream's attempts and usage come with its end (or its error): they
	// are settled and recorded when it is over, however it ends.
	settle := func(p *Problem) {
		m.accounted(k.ct, s.acct, p)
		acc.settle(k, who, res, s.acct)
	}
	gone, unwatch := watchHangup(c)
	defer unwatch()
	s.gone = gone
	// Heartbeats before the first chunk only say the worker is alive; the
	// answer's status waits for a chunk, the end, or an error.
	first := s.next()
	for first.kind == wire.StreamHeartbeat {
		first = s.next()
	}
	if first.problem != nil {
		s.stop()
		settle(first.problem)
		return first.problem
	}
	if first.kind == wire.StreamChunk {
		m.chunked(k)
	}
	if wantJSON {
		defer s.stop()
		err := s.collect(c, first)
		p, _ := err.(*Problem)
		settle(p)
		return err
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no") // tell proxies not to hold events back
	requestID, instance := k.requestID, c.Path()
	k.streaming = true // the writer records the end, once the stream is over
	streamBody(c, log, requestID, instance, func(w *bufio.Writer) {
		defer s.stop()
		p := s.relay(w, first, requestID, instance)
		settle(p)
		finishCall(m, k, fiber.StatusOK, p)
	})
	return nil
}

// stream is one streaming call in flight.
type stream struct {
	nc     *nats.Conn
	link   context.Context // ends when the connection to NATS drops
	gone   <-chan struct{} // closed when the client leaves before its answer starts
	log    *slog.Logger
	k      *call
	sub    *nats.Subscription
	msgs   chan *nats.Msg
	cancel string // the worker's cancel subject, once it said it
	seq    int    // chunks received
	over   bool   // the worker has ended the stream, one way or another
	// acct and verdict come with the end (acct with an error too): the
	// attempts and usage, and the checks' verdict of a verdict stream.
	acct    accounts
	verdict *verdict
}

// verdict is the end of a stream whose repair is "verdict": whether its
// chunks passed the worker's checks, and what they broke.
type verdict struct {
	Valid      bool                  `json:"valid"`
	Violations []contracts.Violation `json:"violations"`
}

// event is one thing the worker said: a chunk, a heartbeat, the end, or
// a problem (the worker's, or ours about the worker).
type event struct {
	kind    string
	data    []byte
	problem *Problem
}

func openStream(nc *nats.Conn, l *link, log *slog.Logger, k *call) (*stream, error) {
	s := &stream{nc: nc, link: l.ctx, log: log, k: k, msgs: make(chan *nats.Msg, streamBuffer)}
	msg := k.request()
	msg.Reply = nc.NewRespInbox()
	var err error
	if s.sub, err = nc.ChanSubscribe(msg.Reply, s.msgs); err != nil {
		return nil, natsUnavailable(err.Error())
	}
	if err := nc.PublishMsg(msg); err != nil {
		_ = s.sub.Unsubscribe()
		return nil, natsUnavailable(err.Error())
	}
	return s, nil
}

// next waits for the worker's next message, bounded by the idle timeout and
// the call's deadline; it gives up at once when the connection to NATS
// drops (the worker's messages are lost meanwhile) or the client leaves.
func (s *stream) next() event {
	idle := s.k.ct.IdleTimeout
	wait := time.Until(s.k.deadline)
	if idle < wait {
		wait = idle
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case msg := <-s.msgs:
		return s.read(msg)
	case <-s.link.Done():
		return event{problem: brokerDown(s.link)}
	case <-s.gone:
		s.log.Info("stream client went away", "request_id", s.k.requestID, "contract", s.k.ct.ID(), "chunks", s.seq)
		return event{problem: clientClosed(s.k.ct)}
	case <-timer.C:
		if time.Now().Before(s.k.deadline) {
			return event{problem: workerLost(s.k.ct, idle)}
		}
		return event{problem: deadlineExceeded(s.k.ct, s.k.timeout)}
	}
}

func (s *stream) read(msg *nats.Msg) event {
	if msg.Header.Get("Status") == "503" { // the server's no-responders status message
		s.over = true
		return event{problem: noWorker(s.k.ct)}
	}
	if sub := msg.Header.Get(wire.HeaderCancel); sub != "" {
		s.cancel = sub
	}
	if code := msg.Header.Get(wire.HeaderServiceErrorCode); code != "" {
		s.over = true
		s.acct = accountsOf(msg.Header, s.log, s.k)
		return event{problem: fromWorkerError(s.k.ct, code, msg.Header.Get(wire.HeaderServiceError), msg.Data, s.k.timeout)}
	}
	switch kind := msg.Header.Get(wire.HeaderStream); kind {
	case wire.StreamEnd:
		s.over = true
		s.acct = accountsOf(msg.Header, s.log, s.k)
		if len(msg.Data) > 0 {
			var end struct {
				Verdict *verdict `json:"verdict"`
			}
			if err := json.Unmarshal(msg.Data, &end); err != nil || end.Verdict == nil {
				s.log.Warn("stream end with a body that is no verdict", "request_id", s.k.requestID, "contract", s.k.ct.ID())
			} else {
				s.verdict = end.Verdict
			}
		}
		return event{kind: kind}
	case wire.StreamHeartbeat:
		return event{kind: kind}
	case wire.StreamChunk:
		s.seq++
		if seq := msg.Header.Get(wire.HeaderSeq); seq != strconv.Itoa(s.seq) {
			s.log.Warn("stream chunk out of order", "request_id", s.k.requestID, "contract", s.k.ct.ID(), "got", seq, "want", s.seq)
			return event{problem: invalidReply(s.k.ct, fmt.Sprintf("chunk %s arrived where chunk %d was due", seq, s.seq))}
		}
		if p := checkReply(s.log, s.k, msg.Data, s.k.ct.ValidateChunkJSON); p != nil {
			return event{problem: p}
		}
		return event{kind: kind, data: msg.Data}
	default:
		return event{problem: invalidReply(s.k.ct, fmt.Sprintf("a stream message of unknown kind %q", kind))}
	}
}

// relay writes events to the client until the end, a problem, or the
// client leaving; a heartbeat becomes an SSE comment, which is how a
// departed client is noticed between chunks.
// It returns the problem the stream ended with, nil for an end event.
func (s *stream) relay(w *bufio.Writer, ev event, requestID, instance string) *Problem {
	for {
		switch {
		case ev.problem != nil:
			writeEvent(w, "error", "", ev.problem.render(requestID, instance))
			_ = w.Flush()
			return ev.problem
		case ev.kind == wire.StreamEnd:
			writeEvent(w, "end", "", s.endEvent())
			_ = w.Flush()
			if s.verdict != nil && !s.verdict.Valid {
				// Every chunk went out; the problem is for the access log and the metrics.
				return invalidReply(s.k.ct, "the stream's verdict: its chunks broke the worker's checks", s.verdict.Violations...)
			}
			return nil
		case ev.kind == wire.StreamChunk:
			writeEvent(w, "chunk", strconv.Itoa(s.seq), ev.data)
		default:
			_, _ = w.WriteString(": heartbeat\n\n")
		}
		if err := w.Flush(); err != nil {
			s.log.Info("stream client went away", "request_id", requestID, "contract", s.k.ct.ID(), "chunks", s.seq)
			return clientClosed(s.k.ct)
		}
		ev = s.next()
	}
}

// collect gathers every chunk and answers their merge as one JSON reply.
func (s *stream) collect(c *fiber.Ctx, ev event) error {
	var chunks []json.RawMessage
	for ; ev.kind != wire.StreamEnd; ev = s.next() {
		if ev.problem != nil {
			return ev.problem
		}
		if ev.kind == wire.StreamChunk {
			chunks = append(chunks, ev.data)
		}
	}
	s.acct.setHeaders(c)
	if s.verdict != nil && !s.verdict.Valid {
		return invalidReply(s.k.ct, "the stream's verdict: its chunks broke the worker's checks", s.verdict.Violations...)
	}
	merged, err := s.k.ct.Merge.Apply(chunks)
	if err != nil {
		return invalidReply(s.k.ct, err.Error())
	}
	if p := checkReply(s.log, s.k, merged, s.k.ct.ValidateResponseJSON); p != nil {
		return p
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(merged)
}

// streamEnd is the data of a stream's end event.
type streamEnd struct {
	Chunks   int         `json:"chunks"`
	Attempts int         `json:"attempts,omitempty"`
	Usage    *usageTotal `json:"usage,omitempty"`
	Verdict  *verdict    `json:"verdict,omitempty"`
}

// usageTotal is a call's usage summed over its attempts, as a stream's end
// event says it (the headers of a sync reply say the same).
type usageTotal struct {
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	Cost         float64 `json:"cost"`
}

// endEvent is the end event's data: the chunks, and the attempts, usage
// and verdict the worker's end carried.
func (s *stream) endEvent() []byte {
	end := streamEnd{Chunks: s.seq, Attempts: s.acct.attempts, Verdict: s.verdict}
	if len(s.acct.usage) > 0 {
		end.Usage = &usageTotal{InputTokens: s.acct.input, OutputTokens: s.acct.output, Cost: s.acct.cost}
	}
	b, _ := json.Marshal(end) // plain numbers and strings always encode
	return b
}

// stop tells a worker that is still going to stop, and lets go of the inbox.
func (s *stream) stop() {
	switch {
	case s.over:
	case s.cancel != "":
		_ = s.nc.Publish(s.cancel, nil)
	default: // the worker has said nothing yet, so where to cancel is unknown
		go s.cancelLater()
		return
	}
	_ = s.sub.Unsubscribe()
}

// cancelLater waits, until the deadline at most, for the worker's first
// message, which names its cancel subject, and tells it to stop there.
func (s *stream) cancelLater() {
	defer s.sub.Unsubscribe() //nolint:errcheck // nothing to do about it
	timer := time.NewTimer(time.Until(s.k.deadline))
	defer timer.Stop()
	select {
	case msg := <-s.msgs:
		kind := msg.Header.Get(wire.HeaderStream)
		if sub := msg.Header.Get(wire.HeaderCancel); sub != "" && (kind == wire.StreamChunk || kind == wire.StreamHeartbeat) {
			_ = s.nc.Publish(sub, nil)
		}
	case <-timer.C:
	}
}

// writeEvent writes one SSE event. data is JSON made single-line, as SSE
// ends an event's data at a newline.
func writeEvent(w *bufio.Writer, name, id string, data []byte) {
	if id != "" {
		_, _ = w.WriteString("id: " + id + "\n")
	}
	_, _ = w.WriteString("event: " + name + "\ndata: ")
	if bytes.IndexByte(data, '\n') >= 0 {
		var compact bytes.Buffer
		if json.Compact(&compact, data) == nil {
			data = compact.Bytes()
		}
	}
	_, _ = w.Write(data)
	_, _ = w.WriteString("\n\n")
}

// prefersJSON says whether the Accept header asks for application/json
// rather than text/event-stream; no preference means the stream.
func prefersJSON(accept string) bool {
	json := false
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "text/event-stream":
			return false
		case fiber.MIMEApplicationJSON:
			json = true
		}
	}
	return json
}
