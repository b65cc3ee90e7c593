package keys_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/notebridge/notebridge/gateway/internal/natstest"
	"github.com/notebridge/notebridge/gateway/keys"
	"github.com/notebridge/notebridge/gateway/wire"
)

func TestKeysIssuedCheckedAndRevoked(t *testing.T) {
	_, _, js := natstest.JetStream(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	kv, err := keys.Bucket(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	store := keys.Watch(ctx, js, slog.Default())

	k, token, err := keys.Create(ctx, kv, "shop-frontend", []string{"summarize", "sentiment/v1"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, keys.Prefix+k.ID+"_") || len(token) != len("nb_")+12+1+43 {
		t.Errorf("token %q; want nb_<id>_<43 characters>", token)
	}
	got := waitAuthenticated(t, store, token)
	if got.Name != "shop-frontend" {
		t.Errorf("got key %q; want shop-frontend", got.Name)
	}
	tests := []struct {
		name    string
		version int
		allowed bool
	}{
		{"summarize", 1, true},
		{"summarize", 7, true},
		{"sentiment", 1, true},
		{"sentiment", 2, false},
		{"iris", 1, false},
	}
	for _, tt := range tests {
		if got := k.Allows(tt.name, tt.version); got != tt.allowed {
			t.Errorf("Allows(%s, %d) = %v; want %v", tt.name, tt.version, got, tt.allowed)
		}
	}

	// The bucket holds no usable key: neither the token nor its secret.
	entry, err := kv.Get(ctx, wire.KeyPrefix+k.ID)
	if err != nil {
		t.Fatal(err)
	}
	secret := token[len(keys.Prefix)+13:]
	if stored := string(entry.Value()); strings.Contains(stored, secret) || !strings.Contains(stored, `"hash":"sha256:`) {
		t.Errorf("stored %s; want the secret's hash and not the secret", stored)
	}

	if _, _, err := keys.Create(ctx, kv, "shop-frontend", []string{"*"}); !errors.Is(err, keys.ErrInvalid) {
		t.Errorf("a second key of the same name: got %v; want ErrInvalid", err)
	}
	if _, err := keys.Revoke(ctx, kv, "shop-frontend"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := store.Authenticate(token); errors.Is(err, keys.ErrUnknown) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the revoked key is still admitted after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := keys.Revoke(ctx, kv, "shop-frontend"); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("revoking twice: got %v; want ErrNotFound", err)
	}
}

// waitAuthenticated waits for the store's watch to see a new key.
func waitAuthenticated(t *testing.T, store *keys.Store, token string) *keys.Key {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		k, err := store.Authenticate(token)
		if err == nil {
			return k
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new key is not admitted after 10 s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAuthenticateRefuses(t *testing.T) {
	_, _, js := natstest.JetStream(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	kv, err := keys.Bucket(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	store := keys.Watch(ctx, js, slog.Default())
	k, token, err := keys.Create(ctx, kv, "app", []string{"*"})
	if err != nil {
		t.Fatal(err)
	}
	waitAuthenticated(t, store, token)
	// The same id with another secret of the right shape.
	forged := keys.Prefix + k.ID + "_" + strings.Repeat("A", 43)
	tests := []struct{ name, token string }{
		{"empty", ""},
		{"another secret", forged},
		{"truncated", token[:len(token)-1]},
		{"unknown id", keys.Prefix + "000000000000_" + token[len(token)-43:]},
		{"no prefix", token[len(keys.Prefix):]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := store.Authenticate(tt.token); !errors.Is(err, keys.ErrUnknown) {
				t.Errorf("got %v; want ErrUnknown", err)
			}
		})
	}
}

func TestCreateRefusesBadSettings(t *testing.T) {
	_, _, js := natstest.JetStream(t)
	ctx := context.Background()
	kv, err := keys.Bucket(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, keyName string
		grants        []string
	}{
		{"no grants", "app", nil},
		{"a grant that is no contract", "app", []string{"Summarize"}},
		{"a version 0", "app", []string{"summarize/v0"}},
		{"an empty name", "", []string{"*"}},
		{"a name with a space", "my app", []string{"*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := keys.Create(ctx, kv, tt.keyName, tt.grants); !errors.Is(err, keys.ErrInvalid) {
				t.Errorf("got %v; want ErrInvalid", err)
			}
		})
	}
}

func TestCreateRefusesBadRates(t *testing.T) {
	_, _, js := natstest.JetStream(t)
	ctx := context.Background()
	kv, err := keys.Bucket(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		rate  float64
		burst int
	}{{-1, 0}, {1, -1}, {0, 5}} {
		if _, _, err := keys.Create(ctx, kv, "app", []string{"*"}, keys.WithRate(tt.rate, tt.burst)); !errors.Is(err, keys.ErrInvalid) {
			t.Errorf("rate %v burst %d: got %v; want ErrInvalid", tt.rate, tt.burst, err)
		}
	}
}

func TestFromHeader(t *testing.T) {
	tests := []struct {
		header, token string
		err           error
	}{
		{"Bearer nb_abc", "nb_abc", nil},
		{"bearer  nb_abc ", "nb_abc", nil},
		{"", "", keys.ErrMissing},
		{"Basic dXNlcjpwYXNz", "", keys.ErrUnknown},
		{"nb_abc", "", keys.ErrUnknown},
	}
	for _, tt := range tests {
		got, err := keys.FromHeader(tt.header)
		if got != tt.token || !errors.Is(err, tt.err) {
			t.Errorf("FromHeader(%q) = %q, %v; want %q, %v", tt.header, got, err, tt.token, tt.err)
		}
	}
}
