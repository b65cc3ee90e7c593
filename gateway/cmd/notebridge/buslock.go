package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/notebridge/notebridge/gateway/embedded"
)

// The values of -nats-auth, for the embedded server.
const (
	busLocked = "locked" // a gateway user, a worker user with its permissions, no anonymous client
	busOpen   = "open"   // anyone on the machine may join: for a laptop only
)

// Files a locked embedded server keeps in its data directory, readable by
// their owner only: the passwords, and the URL each role connects with.
const (
	credentialsFile = "credentials.json"
	gatewayURLFile  = "gateway.url"
	workerURLFile   = "worker.url"
)

// busCredentials are the passwords of a locked embedded server, made at
// its first start and kept, so that a worker's URL outlives a restart.
type busCredentials struct {
	Gateway string `json:"gateway_password"`
	Worker  string `json:"worker_password"`
}

func newSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// credentials reads the data directory's credentials, or makes them.
func credentials(dataDir string) (busCredentials, error) {
	path := filepath.Join(dataDir, credentialsFile)
	var c busCredentials
	b, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(b, &c); err != nil || c.Gateway == "" || c.Worker == "" {
			return c, fmt.Errorf("%s is not the credentials this gateway wrote; remove it to make new ones", path)
		}
		return c, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return c, err
	}
	c = busCredentials{Gateway: newSecret(), Worker: newSecret()}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return c, err
	}
	b, _ = json.Marshal(c)
	return c, os.WriteFile(path, b, 0o600)
}

// startBus starts the embedded server for serve, locked unless -nats-auth
// is open, and returns the URL the gateway connects with.
func startBus(cfg config, log *slog.Logger) (*server.Server, string, error) {
	if cfg.NATSAuth == busOpen {
		ns, err := startEmbedded(cfg)
		if err != nil {
			return nil, "", err
		}
		log.Warn("THE EMBEDDED NATS SERVER IS OPEN (-nats-auth open): any process on this machine may read requests, forge replies and change the job stream")
		return ns, ns.ClientURL(), nil
	}
	creds := busCredentials{Gateway: cfg.NATSGatewayPassword, Worker: cfg.NATSWorkerPassword}
	switch {
	case (creds.Gateway == "") != (creds.Worker == ""):
		return nil, "", errors.New("-nats-gateway-password and -nats-worker-password go together")
	case creds.Gateway == "":
		var err error
		if creds, err = credentials(cfg.DataDir); err != nil {
			return nil, "", fmt.Errorf("embedded NATS credentials: %w", err)
		}
	default:
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, "", err
		}
	}
	ns, err := embedded.Start(embedded.Config{
		Host: cfg.NATSHost, Port: cfg.NATSPort, DataDir: cfg.DataDir,
		Lock: &embedded.Lock{GatewayPassword: creds.Gateway, WorkerPassword: creds.Worker},
	})
	if err != nil {
		return nil, "", err
	}
	addr := ns.Addr().(*net.TCPAddr)
	roleURL := func(user, password string) string {
		return (&url.URL{Scheme: "nats", User: url.UserPassword(user, password), Host: net.JoinHostPort(cfg.NATSHost, fmt.Sprint(addr.Port))}).String()
	}
	gatewayURL, workerURL := roleURL(embedded.GatewayUser, creds.Gateway), roleURL(embedded.WorkerUser, creds.Worker)
	for file, u := range map[string]string{gatewayURLFile: gatewayURL, workerURLFile: workerURL} {
		if err := os.WriteFile(filepath.Join(cfg.DataDir, file), []byte(u+"\n"), 0o600); err != nil {
			stopEmbedded(ns)
			return nil, "", err
		}
	}
	log.Info("embedded NATS is locked: workers connect with the URL in their file, tools with the gateway's",
		"workers", filepath.Join(cfg.DataDir, workerURLFile), "tools", filepath.Join(cfg.DataDir, gatewayURLFile))
	return ns, gatewayURL, nil
}
