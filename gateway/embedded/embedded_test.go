package embedded

import (
	"testing"

	"github.com/nats-io/nats.go"
)

func TestClientsMustPresentTheConfiguredCredentials(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		right nats.Option
		wrong nats.Option
	}{
		{"user and password", Config{User: "alice", Password: "s3cret"}, nats.UserInfo("alice", "s3cret"), nats.UserInfo("alice", "wrong")},
		{"token", Config{Token: "t0ken"}, nats.Token("t0ken"), nats.Token("wrong")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns, err := Start(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer ns.Shutdown()
			if _, err := nats.Connect(ns.ClientURL(), tc.wrong); err == nil {
				t.Fatal("wrong credentials were accepted")
			}
			if _, err := nats.Connect(ns.ClientURL()); err == nil {
				t.Fatal("no credentials were accepted")
			}
			nc, err := nats.Connect(ns.ClientURL(), tc.right)
			if err != nil {
				t.Fatalf("right credentials were refused: %v", err)
			}
			nc.Close()
		})
	}
}

func TestWithoutCredentialsAnyClientConnects(t *testing.T) {
	ns, err := Start(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
}
