package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/jsoneq"
	"github.com/notebridge/notebridge/gateway/wire"
)

// idempotencyEntry is stored under "idem.<hex sha256 of the key>": the
// job the key names and a fingerprint of the request that made it.
type idempotencyEntry struct {
	JobID string `json:"job_id"`
	// Fingerprint is "sha256:<hex>" of the contract id, a newline, and the
	// body in canonical JSON, so that a retry that re-serialises the same
	// value (other key order, whitespace or number spelling) still matches.
	Fingerprint string `json:"fingerprint"`
}

// idempotencyKey is where a client's Idempotency-Key is stored: hashed,
// as bucket keys allow few characters, with its owner's key id, so that
// two API keys' clients never share (or see) each other's jobs through it.
func idempotencyKey(owner, key string) string {
	h := sha256.New()
	if owner != "" {
		h.Write([]byte(owner + "\n"))
	}
	h.Write([]byte(key))
	return wire.IdempotencyKeyPrefix + hex.EncodeToString(h.Sum(nil))
}

func fingerprint(sub Submission) string {
	h := sha256.New()
	h.Write([]byte(sub.Contract.ID() + "\n"))
	h.Write(jsoneq.Canonical(sub.Body))
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// claimKey binds the submission's idempotency key to id with an atomic
// create. When the key is bound already it returns the job it names,
// replayed true, or ErrIdempotencyKeyReused for another request.
func (s *Service) claimKey(ctx context.Context, sub Submission, id string) (string, bool, error) {
	key := idempotencyKey(sub.Owner, sub.IdempotencyKey)
	mine := idempotencyEntry{JobID: id, Fingerprint: fingerprint(sub)}
	b, err := json.Marshal(mine)
	if err != nil {
		return "", false, err
	}
	_, err = s.kv.Create(ctx, key, b)
	if err == nil {
		return id, false, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return "", false, err
	}
	e, err := s.kv.Get(ctx, key)
	if err != nil { // it expired in between: rare enough to ask for a retry
		return "", false, err
	}
	var theirs idempotencyEntry
	if err := json.Unmarshal(e.Value(), &theirs); err != nil {
		return "", false, fmt.Errorf("idempotency entry %s: %w", key, err)
	}
	if theirs.Fingerprint != mine.Fingerprint {
		return "", false, fmt.Errorf("%w: it named job %s", ErrIdempotencyKeyReused, theirs.JobID)
	}
	return theirs.JobID, true, nil
}
