package replycache

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/internal/natstest"
)

// Two replicas share the bucket: what one stores, the other serves; each
// keeps what it used in memory, and forgets it past the TTL.
func TestReplicasShareTheBucket(t *testing.T) {
	ns, _, js := natstest.JetStream(t)
	js2, err := jetstream.New(natstest.Conn(t, ns))
	if err != nil {
		t.Fatal(err)
	}
	a, b := New(js, 0, DefaultLocalBytes), New(js2, 0, DefaultLocalBytes)
	ctx := context.Background()
	reply := []byte(`{"label":"positive"}`)
	if err := a.Put(ctx, "k.v1.d.r", reply); err != nil {
		t.Fatal(err)
	}
	reply[2] = 'X' // the caller's buffer is reused; the cache kept a copy
	for name, c := range map[string]*Cache{"the writer": a, "another replica": b} {
		got, _, err := c.Get(ctx, "k.v1.d.r", time.Minute)
		if err != nil || string(got) != `{"label":"positive"}` {
			t.Errorf("%s: got %s, %v; want the stored reply", name, got, err)
		}
	}
	if _, ok := b.local.entries["k.v1.d.r"]; !ok {
		t.Error("the other replica did not keep the entry it read")
	}
	if _, _, err := b.Get(ctx, "k.v1.d.r", time.Nanosecond); !errors.Is(err, ErrNotCached) {
		t.Errorf("past the TTL: %v; want ErrNotCached", err)
	}
	if _, _, err := b.Get(ctx, "k.v1.d.other", time.Minute); !errors.Is(err, ErrNotCached) {
		t.Errorf("an unknown key: %v; want ErrNotCached", err)
	}
}

func TestLocalKeepsTheMostRecentlyUsedWithinItsBound(t *testing.T) {
	l := newLocal(400)
	now := time.Now()
	for i := range 5 {
		l.put(fmt.Sprintf("key%d", i), make([]byte, 96), now) // 100 bytes each with the key
	}
	if l.bytes > 400 || len(l.entries) != 4 {
		t.Fatalf("%d entries of %d bytes; want 4 within 400", len(l.entries), l.bytes)
	}
	if _, _, ok := l.get("key0", time.Minute); ok {
		t.Error("the least recently used entry is still there")
	}
	l.get("key1", time.Minute) // key1 is used: key2 goes next
	l.put("key5", make([]byte, 96), now)
	for key, want := range map[string]bool{"key1": true, "key2": false, "key5": true} {
		if _, _, ok := l.get(key, time.Minute); ok != want {
			t.Errorf("%s kept %v; want %v", key, ok, want)
		}
	}
	l.put("huge", make([]byte, 200), now) // more than a quarter of the bound
	if _, _, ok := l.get("huge", time.Minute); ok {
		t.Error("an entry over a quarter of the bound was kept")
	}
}
