// Package embedded runs a NATS server inside the gateway process, so a
// laptop needs nothing else installed.
package embedded

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ErrNotReady is returned when the server does not accept connections in time.
var ErrNotReady = errors.New("embedded NATS server not ready")

// readyTimeout bounds the wait for the server to accept connections.
const readyTimeout = 10 * time.Second

// A client that stops answering pings (a stalled or partitioned worker) is
// dropped after pingInterval × maxPingsOut, about 10 s, rather than NATS's
// default 4 minutes: until then it keeps its share of its queue group's
// requests, which wait for their deadlines.
const (
	pingInterval = 5 * time.Second
	maxPingsOut  = 2
)

// Config says where the embedded server listens and keeps its data.
type Config struct {
	// Host is the interface to listen on; "" means 127.0.0.1.
	Host string
	// Port is the client port; 0 or -1 picks a free one.
	Port int
	// DataDir holds JetStream's files; "" disables JetStream.
	DataDir string
	// User and Password, when User is set, are the one account clients
	// must log in with.
	User     string
	Password string
	// Token, when set, is the token clients must present.
	Token string
	// Lock, when set, replaces User, Password and Token: a gateway user
	// and a worker user with the workers' permissions, and no anonymous
	// client.
	Lock *Lock
	// Cluster, when its Name is set, makes the server one node of a
	// cluster: JetStream then replicates across the nodes.
	Cluster Cluster
}

// Cluster is a server's place in a NATS cluster.
type Cluster struct {
	// Name is the cluster's, the same on every node.
	Name string
	// ServerName is this node's, unique in the cluster; "" makes one of
	// the client port.
	ServerName string
	// Host and Port are where this node listens for routes from the
	// others; Host "" is the client Host.
	Host string
	Port int
	// Routes are the other nodes' route URLs (nats://host:port); a node
	// may list itself.
	Routes []*url.URL
}

// Start starts a NATS server and waits until it accepts connections.
// The caller stops it with Shutdown and WaitForShutdown.
func Start(cfg Config) (*server.Server, error) {
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	port := cfg.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName:   "notebridge-embedded",
		Host:         host,
		Port:         port,
		NoSigs:       true,
		MaxPayload:   8 << 20,
		PingInterval: pingInterval,
		MaxPingsOut:  maxPingsOut,
		Username:     cfg.User,
		Password:     cfg.Password,
		// Authorization is the server's name for a client token.
		Authorization: cfg.Token,
	}
	if cfg.DataDir != "" {
		opts.JetStream = true
		opts.StoreDir = cfg.DataDir
	}
	if cfg.Lock != nil {
		opts.Username, opts.Password, opts.Authorization = "", "", ""
		opts.Users = cfg.Lock.users()
	}
	if c := cfg.Cluster; c.Name != "" {
		routeHost := c.Host
		if routeHost == "" {
			routeHost = host
		}
		opts.ServerName = c.ServerName
		if opts.ServerName == "" {
			opts.ServerName = fmt.Sprintf("notebridge-%d", c.Port)
		}
		opts.Cluster = server.ClusterOpts{Name: c.Name, Host: routeHost, Port: c.Port}
		opts.Routes = c.Routes
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(readyTimeout) {
		ns.Shutdown()
		return nil, fmt.Errorf("%w after %s on %s:%d", ErrNotReady, readyTimeout, host, cfg.Port)
	}
	return ns, nil
}
