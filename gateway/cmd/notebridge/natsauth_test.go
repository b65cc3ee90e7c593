package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// natsServer runs a nats-server with opts on a free port of 127.0.0.1.
func natsServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.Port, opts.NoSigs, opts.NoLog = "127.0.0.1", -1, true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// readyWithin reports whether the gateway's /readyz turns 200 within d.
func readyWithin(t *testing.T, base string, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if call(t, "GET", base+"/readyz", "").status == 200 {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// The gateway logs in to a NATS server that wants an nkey, with the seed
// file of -nats-nkey-seed; without it, it is refused and not ready.
func TestGatewayLogsInWithAnNkey(t *testing.T) {
	t.Parallel()
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := user.Seed()
	public, _ := user.PublicKey()
	seedFile := filepath.Join(t.TempDir(), "gateway.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	ns := natsServer(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: public}}})
	url := ns.ClientURL()

	with := startGateway(t, "-nats-url", url, "-nats-nkey-seed", seedFile, "-contracts-dir", "../../../testdata/contracts")
	if base := with.listening(t); !readyWithin(t, base, 10*time.Second) {
		t.Errorf("with the nkey seed: not ready in 10 s; the log:\n%s", with.log())
	}
	without := startGateway(t, "-nats-url", url, "-contracts-dir", "../../../testdata/contracts")
	if base := without.listening(t); readyWithin(t, base, time.Second) {
		t.Error("without the nkey seed: ready; want refused")
	}
	if log := without.log(); !strings.Contains(strings.ToLower(log), "authorization") {
		t.Errorf("without the nkey seed, the log says nothing of the refusal:\n%s", log)
	}
}

// The gateway verifies a TLS server with -nats-tls-ca.
func TestGatewayJoinsNATSOverTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caFile, serverTLS := testCA(t, dir)
	ns := natsServer(t, &server.Options{TLS: true, TLSConfig: serverTLS, TLSTimeout: 2})
	url := "tls://127.0.0.1:" + strconv.Itoa(ns.Addr().(*net.TCPAddr).Port)

	with := startGateway(t, "-nats-url", url, "-nats-tls-ca", caFile, "-contracts-dir", "../../../testdata/contracts")
	if base := with.listening(t); !readyWithin(t, base, 10*time.Second) {
		t.Errorf("with the CA: not ready in 10 s; the log:\n%s", with.log())
	}
	without := startGateway(t, "-nats-url", url, "-contracts-dir", "../../../testdata/contracts")
	if base := without.listening(t); readyWithin(t, base, time.Second) {
		t.Error("without the CA: ready with a server it cannot verify")
	}
}

func TestGatewayRefusesMissingNATSFiles(t *testing.T) {
	t.Parallel()
	p := startGateway(t, "-nats-url", "nats://127.0.0.1:1", "-nats-tls-ca", "/nonexistent/ca.pem", "-contracts-dir", "../../../testdata/contracts")
	select {
	case <-p.exited:
		if log := p.log(); !strings.Contains(log, "-nats-tls-ca") {
			t.Errorf("the gateway exited without naming the flag:\n%s", log)
		}
	case <-p.base:
		t.Error("the gateway started with a CA file that does not exist")
	case <-time.After(20 * time.Second):
		t.Fatal("the gateway neither exited nor listened in 20 s")
	}
}

// testCA writes a CA certificate to dir and returns its file and a TLS
// configuration for a server on 127.0.0.1 signed by it.
func testCA(t *testing.T, dir string) (string, *tls.Config) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "notebridge test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return caFile, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}}, MinVersion: tls.VersionTLS12}
}
