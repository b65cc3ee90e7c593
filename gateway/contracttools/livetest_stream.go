package contracttools

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/wire"
)

// runStreamExample sends a stream contract's example as the gateway does,
// checks every chunk against the chunk schema, and, for a contract that
// declares a merge, checks the merged chunks as a reply.
func runStreamExample(ctx context.Context, cfg TestConfig, ct *contracts.Contract, ex contracts.Example, res Result, timeout time.Duration) Result {
	start := time.Now()
	deadline := start.Add(timeout)
	msg := ct.NewRequest(ex.Request, "contracts-test-"+nuid.Next(), deadline, "")
	msg.Reply = cfg.Conn.NewRespInbox()
	sub, err := cfg.Conn.SubscribeSync(msg.Reply)
	if err != nil {
		return fail(res, "subscribe: %v", err)
	}
	defer sub.Unsubscribe() //nolint:errcheck // the inbox is unique
	if err := cfg.Conn.PublishMsg(msg); err != nil {
		return fail(res, "request failed: %v", err)
	}
	var chunks []json.RawMessage
	defer func() { res.Duration = time.Since(start) }()
	for {
		wait := min(ct.IdleTimeout, time.Until(deadline))
		if ctx.Err() != nil {
			return fail(res, "%v", ctx.Err())
		}
		reply, err := sub.NextMsg(wait)
		switch {
		case err != nil && time.Now().After(deadline):
			return fail(res, "the stream did not end within %s", timeout)
		case err != nil:
			return fail(res, "the worker sent nothing for %s after %d chunk(s)", ct.IdleTimeout, len(chunks))
		case reply.Header.Get("Status") == "503": // the server's no-responders message
			res.Outcome = NoWorker
			res.Problems = []string{"no worker serves " + ct.Subject}
			return res
		case reply.Header.Get(wire.HeaderServiceErrorCode) != "":
			return fail(res, "worker error %s after %d chunk(s): %s", reply.Header.Get(wire.HeaderServiceErrorCode), len(chunks), reply.Header.Get(wire.HeaderServiceError))
		}
		switch reply.Header.Get(wire.HeaderStream) {
		case wire.StreamChunk:
			if r := checkChunk(res, ct, len(chunks)+1, reply); r.Outcome == Fail {
				return r
			}
			chunks = append(chunks, reply.Data)
		case wire.StreamEnd:
			return mergedReply(res, ct, ex, chunks)
		}
	}
}

func checkChunk(res Result, ct *contracts.Contract, seq int, msg *nats.Msg) Result {
	if got := msg.Header.Get(wire.HeaderSeq); got != fmt.Sprint(seq) {
		return fail(res, "chunk %s arrived where chunk %d was due", got, seq)
	}
	v, err := contracts.DecodeJSON(msg.Data)
	if err != nil {
		return fail(res, "chunk %d is not JSON: %v", seq, err)
	}
	for _, viol := range ct.ValidateChunk(v) {
		res = fail(res, "chunk %d breaks the chunk schema: %s: %s (%s)", seq, viol.InstancePath, viol.Message, viol.Keyword)
	}
	return res
}

// mergedReply checks a finished stream: as a reply when the contract
// merges its chunks, and as a pass otherwise (every chunk was checked).
func mergedReply(res Result, ct *contracts.Contract, ex contracts.Example, chunks []json.RawMessage) Result {
	if ct.Merge == nil {
		res.Outcome = Pass
		return res
	}
	merged, err := ct.Merge.Apply(chunks)
	if err != nil {
		return fail(res, "%v", err)
	}
	return checkReply(res, ct, ex, merged)
}
