package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/notebridge/notebridge/gateway/embedded"
	"github.com/notebridge/notebridge/gateway/internal/contracttest"
	"github.com/notebridge/notebridge/gateway/internal/natstest"
)

// binDir holds the binary buildBinary built; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildBinary builds the notebridge command once per test run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "notebridge-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "notebridge")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", &exec.ExitError{Stderr: out}
	}
	return bin, nil
})

// gatewayProcess is the notebridge binary serving, as an operator runs it.
type gatewayProcess struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr strings.Builder
	base   chan string   // the HTTP base URL, once it listens
	exited chan struct{} // closed when the process has exited
}

// startGateway runs `notebridge serve` with args, logging JSON.
func startGateway(t *testing.T, args ...string) *gatewayProcess {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatalf("go build: %v", err)
	}
	p := &gatewayProcess{base: make(chan string, 1), exited: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"serve", "-listen", "127.0.0.1:0", "-log-format", "json", "-auth", "none"}, args...)...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.read(stderr)
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// read keeps every log line, and sends the base URL of the "gateway
// listening" line.
func (p *gatewayProcess) read(r io.Reader) {
	defer close(p.exited)
	defer func() { _ = p.cmd.Wait() }()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		p.mu.Lock()
		p.stderr.WriteString(sc.Text() + "\n")
		p.mu.Unlock()
		var line struct{ Msg, URL string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "gateway listening" {
			p.base <- line.URL
		}
	}
}

func (p *gatewayProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// listening waits until the gateway listens, and fails if it exits first.
func (p *gatewayProcess) listening(t *testing.T) string {
	t.Helper()
	select {
	case base := <-p.base:
		return base
	case <-p.exited:
		t.Fatalf("the gateway exited: %v; its log:\n%s", p.cmd.ProcessState, p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("the gateway is not listening after 30 s; its log:\n%s", p.log())
	}
	return ""
}

// freePort returns a port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// jobContract writes a job contract, so that the gateway needs JetStream.
func jobContract(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	contracttest.Tree{
		"schemas/req.json": `{"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}`,
		"contracts/later.v1.json": `{"name": "later", "version": 1, "description": "a job", "mode": "job",
			"timeout_seconds": 30, "request_schema": "../schemas/req.json", "response_schema": "../schemas/req.json",
			"examples": [{"name": "hi", "request": {"text": "hi"}, "response": {"text": "hi"}}]}`,
	}.Write(t, dir)
	return filepath.Join(dir, "contracts")
}

type answer struct {
	status int
	body   string
}

func call(t *testing.T, method, url, body string) answer {
	t.Helper()
	return callWithKey(t, method, url, "", body)
}

// callWithKey is call with an API key in the Authorization header ("" sends none).
func callWithKey(t *testing.T, method, url, key, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b)}
}

func TestServeWaitsForNATS(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	url := "nats://" + token + "@127.0.0.1:" + strconv.Itoa(port)
	p := startGateway(t, "-nats-url", url, "-contracts-dir", "../../../testdata/contracts,"+jobContract(t))
	base := p.listening(t)

	r := call(t, "GET", base+"/readyz", "")
	if r.status != 503 || !strings.Contains(r.body, "broker-unavailable") {
		t.Errorf("/readyz before NATS: got %d %s; want 503 broker-unavailable", r.status, r.body)
	}
	start := time.Now()
	r = call(t, "POST", base+"/api/echo/v1", `{"text": "early"}`)
	if took := time.Since(start); r.status != 503 || took > 2*time.Second {
		t.Errorf("a call before NATS: got %d after %s; want 503 at once (body %s)", r.status, took, r.body)
	}

	natstest.Server(t, embedded.Config{Port: port, Token: token, DataDir: t.TempDir()})
	deadline := time.Now().Add(30 * time.Second)
	for r = call(t, "GET", base+"/readyz", ""); r.status != 200; r = call(t, "GET", base+"/readyz", "") {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after NATS started: got %d %s; want 200; the log:\n%s", r.status, r.body, p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r = call(t, "POST", base+"/api/later", `{"text": "now"}`); r.status != 202 {
		t.Errorf("a job after NATS started: got %d %s; want 202 (job mode set up meanwhile)", r.status, r.body)
	}
	if strings.Contains(r.body, token) {
		t.Errorf("/readyz = %s; shows the token", r.body)
	}
	if log := p.log(); strings.Contains(log, token) {
		t.Errorf("the log shows the NATS token:\n%s", log)
	}
}

func TestServeNeverPrintsCredentials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url string
	}{
		{"token, server down", "nats://" + token + "@127.0.0.1:" + strconv.Itoa(freePort(t))},
		{"password, server down", "nats://alice:" + token + "@127.0.0.1:" + strconv.Itoa(freePort(t))},
		{"URL that does not parse", "nats://alice:" + token + "@127.0.0.1:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := startGateway(t, "-nats-url", tt.url, "-contracts-dir", "../../../testdata/contracts")
			select {
			case base := <-p.base:
				// Let it try NATS a few times: each failure is logged.
				time.Sleep(time.Second)
				if r := call(t, "GET", base+"/readyz", ""); strings.Contains(r.body, token) {
					t.Errorf("/readyz = %s; shows the credentials", r.body)
				}
			case <-p.exited:
			case <-time.After(30 * time.Second):
				t.Fatal("the gateway neither listened nor exited in 30 s")
			}
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			<-p.exited
			log := p.log()
			if strings.Contains(log, token) {
				t.Errorf("the output shows the credentials:\n%s", log)
			}
			if !strings.Contains(log, "REDACTED") {
				t.Errorf("the output never names the server; want its URL with REDACTED for the credentials:\n%s", log)
			}
		})
	}
}

func TestReconnectDelay(t *testing.T) {
	tests := []struct {
		attempts int
		want     time.Duration
	}{
		{1, 250 * time.Millisecond},
		{2, 500 * time.Millisecond},
		{3, time.Second},
		{5, 4 * time.Second},
		{6, 5 * time.Second},
		{1000, 5 * time.Second},
	}
	for _, tt := range tests {
		if got := reconnectDelay(tt.attempts); got != tt.want {
			t.Errorf("reconnectDelay(%d) = %s; want %s", tt.attempts, got, tt.want)
		}
	}
}

func TestHelpListsEveryCommand(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{"--help", "-h"} {
		t.Run(arg, func(t *testing.T) {
			out, err := exec.Command(bin, arg).CombinedOutput()
			if err != nil {
				t.Fatalf("notebridge %s: %v\n%s", arg, err, out)
			}
			for _, want := range []string{"\n  serve ", "\n  nats ", "\n  contracts ", "\n  openapi ", "\n  keys ", "-listen", "-auth"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("notebridge %s does not show %q:\n%s", arg, want, out)
				}
			}
		})
	}
}
