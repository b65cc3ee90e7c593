package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/internal/jsplace"
	"github.com/notebridge/notebridge/gateway/wire"
)

// rateStateTTL is how long the rate state of an idle key is kept: past a
// key's whole burst window it is the same as none.
const rateStateTTL = time.Hour

// casAttempts bounds the compare-and-set retries of one decision, when
// replicas admit calls of the same key at the same moment.
const casAttempts = 16

// ErrRateState is wrapped by the errors of a decision JetStream failed.
var ErrRateState = errors.New("rate limit state unavailable")

// Decision is a rate limiter's answer for one call.
type Decision struct {
	// Allowed says the call may go on.
	Allowed bool
	// Limit is the key's burst, Remaining the calls it may still make at
	// once, Reset how long until its burst is whole again.
	Limit, Remaining int
	Reset            time.Duration
	// RetryAfter, for a call refused, is how long until one is allowed.
	RetryAfter time.Duration
	// Window is how long a whole burst takes to refill.
	Window time.Duration
}

// Limiter enforces each key's rate with the generic cell rate algorithm
// (GCRA): a key at rate r with burst b may make b calls at once, then one
// every 1/r seconds. Its state, one timestamp per key, lives in a
// JetStream key-value bucket updated by compare-and-set, so the limit holds
// across every gateway replica sharing the NATS cluster.
type Limiter struct {
	state *jsplace.Bucket // opened at the first decision that reaches JetStream
	now   func() time.Time
}

// NewLimiter returns a limiter whose state is in js's rate bucket, opened
// (or created) when first needed: the gateway may start before NATS.
func NewLimiter(js jetstream.JetStream) *Limiter {
	return &Limiter{now: time.Now, state: jsplace.NewBucket(js, jetstream.KeyValueConfig{
		Bucket: wire.RateBucket, History: 1, TTL: rateStateTTL, Storage: jetstream.MemoryStorage,
		Description: "notebridge per-key rate limit state (GCRA theoretical arrival times)",
	})}
}

// rateState is what the bucket holds per key: the theoretical arrival
// time of its next call, in Unix nanoseconds.
type rateState struct {
	TAT int64 `json:"tat"`
}

// Allow decides one call of k. A key without a rate is always allowed.
func (l *Limiter) Allow(ctx context.Context, k *Key) (Decision, error) {
	if k.Rate <= 0 {
		return Decision{Allowed: true}, nil
	}
	burst := k.burst()
	interval := time.Duration(float64(time.Second) / k.Rate)
	tolerance := time.Duration(burst-1) * interval
	kv, err := l.state.Open(ctx)
	if err != nil {
		return Decision{}, fmt.Errorf("%w: %w", ErrRateState, err)
	}
	name := wire.RatePrefix + k.ID
	for range casAttempts {
		var st rateState
		var revision uint64
		entry, err := kv.Get(ctx, name)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return Decision{}, fmt.Errorf("%w: %w", ErrRateState, err)
		default:
			revision = entry.Revision()
			if json.Unmarshal(entry.Value(), &st) != nil {
				st = rateState{}
			}
		}
		now := l.now()
		tat := time.Unix(0, st.TAT)
		if tat.Before(now) {
			tat = now
		}
		d := Decision{Limit: burst, Window: time.Duration(burst) * interval}
		if ahead := tat.Sub(now); ahead > tolerance {
			d.RetryAfter = ahead - tolerance
			d.Reset = ahead
			return d, nil
		}
		next := tat.Add(interval)
		value, _ := json.Marshal(rateState{TAT: next.UnixNano()})
		if revision == 0 {
			_, err = kv.Create(ctx, name, value)
		} else {
			_, err = kv.Update(ctx, name, value, revision)
		}
		if jsplace.Conflict(err) {
			continue // another replica admitted a call of this key meanwhile
		}
		if err != nil {
			return Decision{}, fmt.Errorf("%w: %w", ErrRateState, err)
		}
		ahead := next.Sub(now)
		d.Allowed = true
		d.Reset = ahead
		d.Remaining = max(0, burst-int(math.Ceil(float64(ahead)/float64(interval))))
		return d, nil
	}
	return Decision{}, fmt.Errorf("%w: %d replicas kept changing key %s's state", ErrRateState, casAttempts, k.ID)
}

// burst is the key's burst, at least one call.
func (k *Key) burst() int {
	if k.Burst >= 1 {
		return k.Burst
	}
	return max(1, int(math.Ceil(k.Rate)))
}
