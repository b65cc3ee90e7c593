package api

import (
	"context"
	"errors"
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

// HeaderRequestTimeout lets a client ask for a shorter deadline than the
// contract's timeout, in seconds ("0.5").
const HeaderRequestTimeout = "Request-Timeout"

// Invoke is the request path of a sync contract: check the body against the
// request schema, send it over NATS with the deadline, check the reply
// against the response schema, answer with the worker's bytes.
func Invoke(reg *contracts.Registry, nc *nats.Conn, log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ct, err := contractOf(reg, c)
		if err != nil {
			return err
		}
		if !isJSON(c.Get(fiber.HeaderContentType)) {
			return unsupportedMediaType(c.Get(fiber.HeaderContentType))
		}
		timeout, err := requestTimeout(c.Get(HeaderRequestTimeout), ct.Timeout)
		if err != nil {
			return err
		}
		body := c.Body()
		req, err := contracts.DecodeJSON(body)
		if err != nil {
			var se *contracts.SyntaxError
			errors.As(err, &se)
			return malformedJSON(se)
		}
		if vs := ct.ValidateRequest(req); len(vs) > 0 {
			return invalidRequest(ct, vs)
		}

		requestID := RequestIDOf(c)
		deadline := time.Now().Add(timeout)
		msg := nats.NewMsg(ct.Subject)
		msg.Data = body // the client's bytes: no re-encoding, no lost precision
		msg.Header.Set(wire.HeaderRequestID, requestID)
		msg.Header.Set(wire.HeaderDeadline, wire.FormatDeadline(deadline))
		msg.Header.Set(wire.HeaderContract, ct.ID())
		msg.Header.Set(wire.HeaderContractDigest, ct.Digest)
		if tp := c.Get(wire.HeaderTraceparent); tp != "" {
			msg.Header.Set(wire.HeaderTraceparent, tp)
		}

		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		reply, err := nc.RequestMsgWithContext(ctx, msg)
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			return noWorker(ct)
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
			return deadlineExceeded(ct, timeout)
		case err != nil:
			return natsUnavailable(err.Error())
		}
		if code := reply.Header.Get(wire.HeaderServiceErrorCode); code != "" {
			return fromWorkerError(ct, code, reply.Header.Get(wire.HeaderServiceError), timeout)
		}

		resp, err := contracts.DecodeJSON(reply.Data)
		if err != nil {
			log.Warn("worker reply is not JSON", "request_id", requestID, "contract", ct.ID(), "err", err)
			return invalidReply(ct, "it is not JSON")
		}
		if vs := ct.ValidateResponse(resp); len(vs) > 0 {
			log.Warn("worker reply breaks the contract", "request_id", requestID, "contract", ct.ID(), "violations", vs)
			return invalidReply(ct, fmt.Sprintf("%d violation(s)", len(vs)))
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(reply.Data)
	}
}

// fromWorkerError maps a worker's error code to the client's answer
// (docs/protocol.md has the table).
func fromWorkerError(ct *contracts.Contract, code, msg string, timeout time.Duration) error {
	switch code {
	case wire.CodeBusy:
		return workerBusy(ct, msg)
	case wire.CodeDeadlineExceeded:
		return deadlineExceeded(ct, timeout)
	case wire.CodeDrift:
		return contractDrift(ct, msg)
	case wire.CodeInvalidReply:
		return invalidReply(ct, "the worker caught it: "+msg)
	default:
		return workerError(ct, code, msg)
	}
}

// isJSON accepts application/json and any application/*+json type.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == fiber.MIMEApplicationJSON || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// requestTimeout reads the Request-Timeout header: a client may shorten the
// contract's timeout, never lengthen it.
func requestTimeout(header string, contractTimeout time.Duration) (time.Duration, error) {
	if header == "" {
		return contractTimeout, nil
	}
	secs, err := strconv.ParseFloat(header, 64)
	if err != nil || !(secs > 0) { // !(x > 0) also rejects NaN
		return 0, badHeader(HeaderRequestTimeout, "must be a positive number of seconds, such as 2 or 0.5")
	}
	if secs >= contractTimeout.Seconds() { // also keeps +Inf out of the conversion below
		return contractTimeout, nil
	}
	return time.Duration(secs * float64(time.Second)), nil
}
