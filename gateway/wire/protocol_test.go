package wire_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/notebridge/notebridge/gateway/jobs"
	"github.com/notebridge/notebridge/gateway/wire"
)

// protocol is protocol/wire.json, the wire protocol as data, which the
// Python SDK's tests check too.
type protocol struct {
	QueueGroup  string            `json:"queue_group"`
	InboxPrefix string            `json:"worker_inbox_prefix"`
	Subjects    map[string]string `json:"subjects"`
	Headers     map[string]string `json:"headers"`
	Streams     map[string]string `json:"stream_kinds"`
	Codes       map[string]struct {
		HTTPStatus int    `json:"http_status"`
		Problem    string `json:"problem"`
	} `json:"error_codes"`
	Jobs struct {
		Stream         string   `json:"stream"`
		Bucket         string   `json:"bucket"`
		KeyPrefix      string   `json:"key_prefix"`
		Consumer       string   `json:"consumer"`
		MetadataPrefix string   `json:"metadata_prefix"`
		Statuses       []string `json:"statuses"`
		Final          []string `json:"final"`
	} `json:"jobs"`
}

func loadProtocol(t *testing.T) protocol {
	t.Helper()
	raw, err := os.ReadFile("../../protocol/wire.json")
	if err != nil {
		t.Fatal(err)
	}
	var p protocol
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// fill puts a name, a version and an id into a subject pattern.
func fill(pattern string) string {
	return strings.NewReplacer("{name}", "summarize", "{version}", "3", "{id}", "J1").Replace(pattern)
}

func TestTheGatewaysConstantsAreTheProtocols(t *testing.T) {
	p := loadProtocol(t)
	tests := []struct {
		what, got, want string
	}{
		{"queue group", wire.QueueGroup, p.QueueGroup},
		{"worker inbox prefix", wire.WorkerInboxPrefix, p.InboxPrefix},
		{"contract subject", wire.Subject("summarize", 3), fill(p.Subjects["contract"])},
		{"job subject", wire.JobSubject("summarize", 3), fill(p.Subjects["job"])},
		{"job cancel subject", wire.JobCancelSubject("J1"), fill(p.Subjects["job_cancel"])},
		{"request id header", wire.HeaderRequestID, p.Headers["request_id"]},
		{"deadline header", wire.HeaderDeadline, p.Headers["deadline"]},
		{"contract header", wire.HeaderContract, p.Headers["contract"]},
		{"digest header", wire.HeaderContractDigest, p.Headers["contract_digest"]},
		{"traceparent header", wire.HeaderTraceparent, p.Headers["traceparent"]},
		{"service error header", wire.HeaderServiceError, p.Headers["service_error"]},
		{"service error code header", wire.HeaderServiceErrorCode, p.Headers["service_error_code"]},
		{"stream header", wire.HeaderStream, p.Headers["stream"]},
		{"seq header", wire.HeaderSeq, p.Headers["seq"]},
		{"cancel header", wire.HeaderCancel, p.Headers["cancel"]},
		{"job id header", wire.HeaderJobID, p.Headers["job_id"]},
		{"attempts header", wire.HeaderAttempts, p.Headers["attempts"]},
		{"usage header", wire.HeaderUsage, p.Headers["usage"]},
		{"chunk kind", wire.StreamChunk, p.Streams["chunk"]},
		{"heartbeat kind", wire.StreamHeartbeat, p.Streams["heartbeat"]},
		{"end kind", wire.StreamEnd, p.Streams["end"]},
		{"error kind", wire.StreamError, p.Streams["error"]},
		{"job stream", wire.JobStream, p.Jobs.Stream},
		{"job bucket", wire.JobBucket, p.Jobs.Bucket},
		{"job key prefix", wire.JobKeyPrefix, p.Jobs.KeyPrefix},
		{"job consumer", wire.JobConsumer("summarize", 3), fill(p.Jobs.Consumer)},
		{"job metadata prefix", wire.JobMetadataPrefix, p.Jobs.MetadataPrefix},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			if tt.want == "" || tt.got != tt.want {
				t.Errorf("got %q; want %q (protocol/wire.json)", tt.got, tt.want)
			}
		})
	}
	for _, code := range []string{wire.CodeInvalidRequest, wire.CodeInvalidReply, wire.CodeDrift,
		wire.CodeUnknownContract, wire.CodeBusy, wire.CodeDeadlineExceeded, wire.CodeInternal} {
		if _, ok := p.Codes[code]; !ok {
			t.Errorf("error code %q is not in protocol/wire.json", code)
		}
	}
	for _, status := range p.Jobs.Statuses {
		final := jobs.Status(status).Final()
		if inFinal := slices.Contains(p.Jobs.Final, status); final != inFinal {
			t.Errorf("status %s: Final() = %v; protocol/wire.json says %v", status, final, inFinal)
		}
	}
	for _, status := range []jobs.Status{jobs.Queued, jobs.Running, jobs.Succeeded, jobs.Failed, jobs.Cancelled} {
		if !slices.Contains(p.Jobs.Statuses, string(status)) {
			t.Errorf("job status %q is not in protocol/wire.json", status)
		}
	}
}
