package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// copyTree copies the test contracts and schemas into a directory the
// test may change.
func copyTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, dir := range []string{"contracts", "schemas"} {
		src := filepath.Join("../../../testdata", dir)
		entries, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, dir, e.Name()), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return filepath.Join(root, "contracts")
}

// contractNames reads GET /api's contract names.
func contractNames(t *testing.T, base string) []string {
	t.Helper()
	var catalog struct{ Contracts []struct{ Name string } }
	if err := json.Unmarshal([]byte(call(t, "GET", base+"/api", "").body), &catalog); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range catalog.Contracts {
		out = append(out, c.Name)
	}
	return out
}

// SIGHUP reloads the contract files: a new contract is served, with its
// route in /openapi.json; a broken set is refused and the old one served;
// no request meanwhile goes unanswered.
func TestContractsReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	dir := copyTree(t)
	p := startGateway(t, "-nats-port", "0", "-data-dir", t.TempDir(), "-contracts-dir", dir)
	base := p.listening(t)

	// Calls all along: each gets an answer (503, no worker serves echo), none a broken connection.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var calls, answered int
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r := call(t, "POST", base+"/api/echo/v1", `{"text": "during reloads"}`)
			mu.Lock()
			calls++
			if r.status == 503 {
				answered++
			}
			mu.Unlock()
		}
	}()

	manifest, err := os.ReadFile(filepath.Join(dir, "echo.v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	ping := strings.Replace(string(manifest), `"name": "echo"`, `"name": "ping"`, 1)
	if ping == string(manifest) {
		t.Fatalf("echo.v1.json has no \"name\": \"echo\" to change:\n%s", manifest)
	}
	if err := os.WriteFile(filepath.Join(dir, "ping.v1.json"), []byte(ping), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(strings.Join(contractNames(t, base), ","), "ping") {
		if time.Now().After(deadline) {
			t.Fatalf("ping is not in the catalog 10 s after SIGHUP; the log:\n%s", p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if doc := call(t, "GET", base+"/openapi.json", "").body; !strings.Contains(doc, `"/api/ping/v1"`) {
		t.Error("/openapi.json has no /api/ping/v1 after the reload")
	}

	// A broken manifest: refused, and the set before it still served.
	if err := os.WriteFile(filepath.Join(dir, "broken.v1.json"), []byte(`{"name": "Broken"`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(p.log(), "contracts reload failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no log of the refused reload after 10 s:\n%s", p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if names := strings.Join(contractNames(t, base), ","); !strings.Contains(names, "ping") || !strings.Contains(names, "echo") {
		t.Errorf("after a broken reload the catalog has %s; want the previous set (echo, ping)", names)
	}

	close(stop)
	wg.Wait()
	if calls == 0 || answered != calls {
		t.Errorf("%d of %d calls during the reloads got their 503 no-worker; want all", answered, calls)
	}
}
