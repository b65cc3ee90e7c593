package compose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/internal/jsplace"
)

// CheckpointBucket is the key-value bucket of the branches composed jobs
// have finished, by job id and branch: <job id>.<step>[.<branch or item>].
const CheckpointBucket = "nb_compose"

// Checkpoint is a branch's reply, kept so that a later delivery of its job
// does not call the branch again.
type Checkpoint struct {
	Reply    json.RawMessage `json:"reply"`
	Attempts int             `json:"attempts"`
}

// Checkpoints keeps the finished branches of one run of a composition.
type Checkpoints interface {
	// Load returns every checkpoint, by branch key.
	Load(ctx context.Context) (map[string]Checkpoint, error)
	// Save keeps one branch's checkpoint.
	Save(ctx context.Context, key string, cp Checkpoint) error
}

// JobCheckpoints are the checkpoints of composed jobs, in the bucket
// CheckpointBucket; entries live as long as job records do.
type JobCheckpoints struct {
	bucket *jsplace.Bucket
}

// NewJobCheckpoints returns the checkpoint store in js; ttl is how long a
// job's checkpoints live after they are written (the job records' TTL).
func NewJobCheckpoints(js jetstream.JetStream, ttl time.Duration) *JobCheckpoints {
	return &JobCheckpoints{bucket: jsplace.NewBucket(js, jetstream.KeyValueConfig{
		Bucket:      CheckpointBucket,
		Description: "notebridge: the branches composed jobs have finished",
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
	})}
}

// For returns the checkpoints of one job.
func (s *JobCheckpoints) For(jobID string) Checkpoints { return &jobCheckpoints{s: s, job: jobID} }

type jobCheckpoints struct {
	s   *JobCheckpoints
	job string
}

func (c *jobCheckpoints) Load(ctx context.Context) (map[string]Checkpoint, error) {
	kv, err := c.s.bucket.Open(ctx)
	if err != nil {
		return nil, err
	}
	w, err := kv.Watch(ctx, c.job+".>", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer w.Stop() //nolint:errcheck // read once
	out := map[string]Checkpoint{}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("checkpoint watch closed")
			}
			if e == nil { // every current value has been delivered
				return out, nil
			}
			var cp Checkpoint
			if json.Unmarshal(e.Value(), &cp) == nil {
				out[strings.TrimPrefix(e.Key(), c.job+".")] = cp
			}
		}
	}
}

func (c *jobCheckpoints) Save(ctx context.Context, key string, cp Checkpoint) error {
	kv, err := c.s.bucket.Open(ctx)
	if err != nil {
		return err
	}
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, c.job+"."+key, b); err != nil {
		return fmt.Errorf("checkpoint %s of job %s: %w", key, c.job, err)
	}
	return nil
}
