// Package wire names the headers and error codes of the notebridge protocol
// between the gateway and the workers. docs/protocol.md is the specification;
// the Python SDK's notebridge_worker.protocol mirrors this file.
package wire

import (
	"strconv"
	"time"
)

// Request headers the gateway sets on every NATS request.
const (
	HeaderRequestID      = "Nb-Request-Id"
	HeaderDeadline       = "Nb-Deadline" // Unix milliseconds
	HeaderContract       = "Nb-Contract" // "<name>/v<N>"
	HeaderContractDigest = "Nb-Contract-Digest"
	HeaderTraceparent    = "traceparent"
)

// Reply headers of an error, as defined by NATS micro (ADR-32).
const (
	HeaderServiceError     = "Nats-Service-Error"
	HeaderServiceErrorCode = "Nats-Service-Error-Code"
)

// Reply headers of a contract with repair, and of any reply whose handler
// reported usage (docs/protocol.md, "Attempts and usage").
const (
	// HeaderAttempts is how many times the handler ran for the request.
	HeaderAttempts = "Nb-Attempts"
	// HeaderUsage is every attempt's usage, a JSON array of Usage.
	HeaderUsage = "Nb-Usage"
)

// Reserved error codes. Any other code is a handler's deliberate error.
const (
	CodeInvalidRequest   = "invalid_request"
	CodeInvalidReply     = "invalid_reply"
	CodeDrift            = "drift"
	CodeUnknownContract  = "unknown_contract"
	CodeBusy             = "busy"
	CodeDeadlineExceeded = "deadline_exceeded"
	CodeInternal         = "internal"
)

// Stream mode headers (docs/protocol.md, "Stream mode").
const (
	HeaderStream = "Nb-Stream" // one of the Stream* kinds
	HeaderSeq    = "Nb-Seq"    // chunk number, from 1
	HeaderCancel = "Nb-Cancel" // where the gateway publishes to stop the handler
)

// Kinds of stream message, the values of HeaderStream.
const (
	StreamChunk     = "chunk"
	StreamHeartbeat = "heartbeat"
	StreamEnd       = "end"
	StreamError     = "error"
)

// HeartbeatInterval is how long a streaming worker may stay silent before
// it sends a heartbeat: a third of the contract's idle timeout, so that two
// heartbeats can be late before the gateway presumes the worker dead.
func HeartbeatInterval(idleTimeout time.Duration) time.Duration { return idleTimeout / 3 }

// QueueGroup is the queue group every worker of every contract joins.
const QueueGroup = "nb"

// JobMetadataPrefix starts the micro service metadata keys with which a
// worker announces the job contracts it pulls: "job:<name>/v<N>", the value
// the contract digest. Job contracts have no endpoint to discover.
const JobMetadataPrefix = "job:"

// Subject returns the NATS subject of a contract version: "nb.<name>.v<N>".
func Subject(name string, version int) string {
	return "nb." + name + ".v" + strconv.Itoa(version)
}

// FormatDeadline writes an absolute deadline as Unix milliseconds.
func FormatDeadline(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// ParseDeadline reads a deadline written by FormatDeadline.
func ParseDeadline(s string) (time.Time, error) {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms), nil
}

// WorkerInboxPrefix prefixes the inboxes of worker processes (the
// gateway's are NATS's default, _INBOX), so that a locked-down bus lets a
// worker read its own replies and not the gateway's.
const WorkerInboxPrefix = "_INBOX_nbw"
