// Package natstest starts the gateway's embedded NATS server for tests and
// connects to it, stopping both when the test ends: a real nats-server in
// the test's process, on 127.0.0.1.
package natstest

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/embedded"
)

// Server starts an embedded NATS server configured by cfg (Port 0 picks a
// free port; a DataDir turns JetStream on) and shuts it down when t ends.
func Server(t testing.TB, cfg embedded.Config) *server.Server {
	t.Helper()
	ns, err := embedded.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// Conn connects to ns and closes the connection when t ends.
func Conn(t testing.TB, ns *server.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// JetStream starts a server with JetStream in a temporary directory and
// returns it with a connection and its JetStream context.
func JetStream(t testing.TB) (*server.Server, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	ns := Server(t, embedded.Config{DataDir: t.TempDir()})
	nc := Conn(t, ns)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return ns, nc, js
}
