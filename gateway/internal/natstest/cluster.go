package natstest

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster starts n NATS servers on 127.0.0.1, routed to each other, each
// with JetStream in a directory of its own, and waits until JetStream has
// a leader; it shuts them down when t ends. Clients reach them all at
// ClusterURL.
func Cluster(t testing.TB, n int) []*server.Server {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ports[i] = freePort(t)
	}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	servers := make([]*server.Server, n)
	for i := range servers {
		opts := &server.Options{
			ServerName: fmt.Sprintf("nb-%d", i+1),
			Host:       "127.0.0.1",
			Port:       -1,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoSigs:     true,
			NoLog:      true,
			Cluster:    server.ClusterOpts{Name: "nb-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:     routes,
		}
		ns, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		go ns.Start()
		servers[i] = ns
		t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, ns := range servers {
		for !ns.ReadyForConnections(100*time.Millisecond) || !ns.JetStreamIsCurrent() || ns.NumRoutes() < n-1 {
			if time.Now().After(deadline) {
				t.Fatalf("the %d-node cluster did not form within 30 s", n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// A stream of n replicas can be placed once the leader knows every
	// peer as current.
	for !metaReady(servers, n) {
		if time.Now().After(deadline) {
			t.Fatal("the cluster's JetStream did not know its nodes within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return servers
}

// ClusterURL is every server's client URL, comma-separated, as nats.Connect
// takes it.
func ClusterURL(servers []*server.Server) string {
	var urls []string
	for _, ns := range servers {
		urls = append(urls, ns.ClientURL())
	}
	return strings.Join(urls, ",")
}

// metaReady reports whether a JetStream leader knows n current peers.
func metaReady(servers []*server.Server, n int) bool {
	for _, ns := range servers {
		if ns.JetStreamIsLeader() {
			return len(ns.JetStreamClusterPeers()) >= n
		}
	}
	return false
}

// freePort is a TCP port no one listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
