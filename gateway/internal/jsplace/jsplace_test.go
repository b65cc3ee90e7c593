package jsplace_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/internal/jsplace"
	"github.com/notebridge/notebridge/gateway/internal/natstest"
)

// On a three-node cluster, what the gateway creates is replicated three
// times; what exists keeps its replicas.
func TestReplicatedOnAThreeNodeCluster(t *testing.T) {
	servers := natstest.Cluster(t, 3)
	nc, err := nats.Connect(natstest.ClusterURL(servers))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	plain, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	js := jsplace.Replicated(plain, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := plain.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "mine", Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		create func(context.Context) error
		stream string
		want   int
	}{
		{"a bucket", func(ctx context.Context) error {
			_, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "nb_test"})
			return err
		}, "KV_nb_test", 3},
		{"a stream", func(ctx context.Context) error {
			_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "NB_TEST", Subjects: []string{"nb.test.>"}})
			return err
		}, "NB_TEST", 3},
		{"a bucket that exists", func(ctx context.Context) error {
			_, err := js.KeyValue(ctx, "mine")
			return err
		}, "KV_mine", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := retryTimeouts(tt.create); err != nil {
				t.Fatal(err)
			}
			s, err := plain.Stream(ctx, tt.stream)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.CachedInfo().Config.Replicas; got != tt.want {
				t.Errorf("replicas = %d; want %d", got, tt.want)
			}
		})
	}
	if got := jsplace.Replicated(plain, 1); got != plain {
		t.Error("one replica wraps nothing: want js itself")
	}
}

// retryTimeouts calls create up to three times, 20 s each, while it times
// out: on a loaded machine (go test runs packages side by side, with
// -race) an in-process cluster may take its time to place three replicas,
// as a real client would wait and try again. Creating what exists with
// the same config is no error, so a late first attempt is harmless.
func retryTimeouts(create func(context.Context) error) error {
	var err error
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = create(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
	}
	return err
}
