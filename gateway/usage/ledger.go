// Package usage accounts for what calls consume: the ledger of tokens and
// cost per day, contract version, API key and model that GET /usage reads,
// and API keys' budgets, reserved before a call and settled after it. Both
// live in JetStream key-value buckets, so every gateway replica shares them
// and they survive restarts.
package usage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/internal/jsplace"
	"github.com/notebridge/notebridge/gateway/wire"
)

// DefaultRetention is how long a day's totals are kept when the gateway's
// flag does not say.
const DefaultRetention = 90 * 24 * time.Hour

// Totals are what a set of calls consumed.
type Totals struct {
	// Calls counts the calls; Attempts the handler runs they took.
	Calls        int64   `json:"calls"`
	Attempts     int64   `json:"attempts"`
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	Cost         float64 `json:"cost"`
}

// Add adds o to t.
func (t *Totals) Add(o Totals) {
	t.Calls += o.Calls
	t.Attempts += o.Attempts
	t.InputTokens += o.InputTokens
	t.OutputTokens += o.OutputTokens
	t.Cost = RoundCost(t.Cost + o.Cost)
}

// RoundCost rounds a sum of costs to 1e-10 of the unit, so that binary
// floating point does not show (0.1 + 0.2 is 0.3).
func RoundCost(c float64) float64 { return math.Round(c*1e10) / 1e10 }

// Row is the totals of one day, contract version, key and model.
type Row struct {
	Day      string // 2006-01-02, UTC
	Contract string // name/vN
	Key      string // the API key's id; "" without keys
	Model    string // "" when the handler named none
	Totals
}

// Call is one call's consumption, as the ledger records it.
type Call struct {
	At       time.Time
	Name     string
	Version  int
	Key      string
	Attempts int
	Usage    []wire.Usage
}

// Ledger records calls' usage in the bucket wire.UsageBucket.
type Ledger struct {
	totals *jsplace.Bucket
}

// NewLedger returns a ledger whose day totals are kept for retention
// (0: DefaultRetention); its bucket is opened, or created, on first use.
func NewLedger(js jetstream.JetStream, retention time.Duration) *Ledger {
	if retention <= 0 {
		retention = DefaultRetention
	}
	return &Ledger{totals: jsplace.NewBucket(js, jetstream.KeyValueConfig{
		Bucket: wire.UsageBucket, History: 1, TTL: retention, Storage: jetstream.FileStorage,
		Description: "notebridge usage totals per day, contract version, API key and model",
	})}
}

// Record adds a call to its day's totals, one entry per model it used; a
// call whose handler reported no usage counts under the model "".
func (l *Ledger) Record(ctx context.Context, c Call) error {
	kv, err := l.totals.Open(ctx)
	if err != nil {
		return err
	}
	byModel := map[string]*Totals{}
	for _, u := range c.Usage {
		t := byModel[u.Model]
		if t == nil {
			t = &Totals{}
			byModel[u.Model] = t
		}
		t.InputTokens += u.InputTokens
		t.OutputTokens += u.OutputTokens
		t.Cost += u.Cost
	}
	if len(byModel) == 0 {
		byModel[""] = &Totals{}
	}
	// The call and its attempts count once, under its first model.
	first := ""
	if len(c.Usage) > 0 {
		first = c.Usage[0].Model
	}
	byModel[first].Calls, byModel[first].Attempts = 1, int64(max(c.Attempts, 1))
	day := c.At.UTC().Format("20060102")
	for model, t := range byModel {
		key := strings.Join([]string{day, c.Name, "v" + strconv.Itoa(c.Version), token(c.Key), token(model)}, ".")
		if err := addTo(ctx, kv, key, *t); err != nil {
			return err
		}
	}
	return nil
}

// addTo adds t to the totals under key, by compare-and-set.
func addTo(ctx context.Context, kv jetstream.KeyValue, key string, t Totals) error {
	return compareAndSet(ctx, kv, key, func(old []byte) ([]byte, error) {
		var cur Totals
		if old != nil {
			if err := json.Unmarshal(old, &cur); err != nil {
				return nil, fmt.Errorf("usage entry %s: %w", key, err)
			}
		}
		cur.Add(t)
		return json.Marshal(cur)
	})
}

// compareAndSet replaces the value under key (nil when there is none)
// with change's, retrying while other writers (replicas, concurrent calls)
// update it meanwhile, after a short random pause, until ctx ends.
func compareAndSet(ctx context.Context, kv jetstream.KeyValue, key string, change func(old []byte) ([]byte, error)) error {
	for {
		var old []byte
		var rev uint64
		e, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return err
		default:
			old, rev = e.Value(), e.Revision()
		}
		value, err := change(old)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = kv.Create(ctx, key, value)
		} else {
			_, err = kv.Update(ctx, key, value, rev)
		}
		if err == nil || !jsplace.Conflict(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: writers kept colliding: %w", key, ctx.Err())
		case <-time.After(time.Duration(rand.Int64N(int64(2 * time.Millisecond)))):
		}
	}
}

// Rows returns the totals of the days from since to until (UTC days,
// inclusive), of contract (name, name/vN, or "" for all) and of key (an
// id, or "" for all).
func (l *Ledger) Rows(ctx context.Context, since, until time.Time, contract, key string) ([]Row, error) {
	kv, err := l.totals.Open(ctx)
	if err != nil {
		return nil, err
	}
	name, version := "*", "*"
	if contract != "" {
		n, v, versioned := strings.Cut(contract, "/")
		name = n
		if versioned {
			version = v
		}
	}
	keyFilter := "*"
	if key != "" {
		keyFilter = token(key)
	}
	w, err := kv.Watch(ctx, strings.Join([]string{"*", name, version, keyFilter, "*"}, "."), jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer w.Stop() //nolint:errcheck // a read-only watch
	first, last := since.UTC().Format("20060102"), until.UTC().Format("20060102")
	var rows []Row
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e := <-w.Updates():
			if e == nil { // every current entry delivered
				return rows, nil
			}
			parts := strings.Split(e.Key(), ".")
			if len(parts) != 5 || parts[0] < first || parts[0] > last {
				continue
			}
			var t Totals
			if json.Unmarshal(e.Value(), &t) != nil {
				continue
			}
			day, _ := time.Parse("20060102", parts[0])
			rows = append(rows, Row{
				Day: day.Format(time.DateOnly), Contract: parts[1] + "/" + parts[2],
				Key: untoken(parts[3]), Model: untoken(parts[4]), Totals: t,
			})
		}
	}
}

// token makes a key id or a model name one key-value key token: "_" for
// "", else "m" and its base64url (a model name may hold dots and spaces).
func token(s string) string {
	if s == "" {
		return "_"
	}
	return "m" + base64.RawURLEncoding.EncodeToString([]byte(s))
}

func untoken(t string) string {
	if t == "_" || !strings.HasPrefix(t, "m") {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(t[1:])
	if err != nil {
		return ""
	}
	return string(b)
}
