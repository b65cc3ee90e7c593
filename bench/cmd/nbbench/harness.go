package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// harness starts and stops the processes of each row.
type harness struct {
	opts      options
	tmp       string
	body      string // the ~200-byte request every row but B sends
	modelBody string // the B rows' request: a feature vector for the model
	procs     []*exec.Cmd
}

func newHarness(opts options) (*harness, error) {
	tmp, err := os.MkdirTemp("", "nbbench-")
	if err != nil {
		return nil, err
	}
	body, err := exampleRequest(filepath.Join(opts.root, "bench/contracts/mirror.v1.json"))
	if err != nil {
		return nil, err
	}
	modelBody, err := exampleRequest(filepath.Join(opts.root, "bench/contracts/score.v1.json"))
	if err != nil {
		return nil, err
	}
	return &harness{opts: opts, tmp: tmp, body: body, modelBody: modelBody}, nil
}

// exampleRequest reads a contract's first example request, compacted.
func exampleRequest(path string) (string, error) {
	var manifest struct {
		Examples []struct {
			Request json.RawMessage `json:"request"`
		} `json:"examples"`
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(raw, &manifest); err != nil {
		return "", err
	}
	if len(manifest.Examples) == 0 {
		return "", fmt.Errorf("%s: no example request", path)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, manifest.Examples[0].Request); err != nil {
		return "", err
	}
	return compact.String(), nil
}

func (h *harness) close() {
	h.stopAll()
	_ = os.RemoveAll(h.tmp)
}

func (h *harness) path(rel string) string { return filepath.Join(h.opts.root, rel) }

// start runs a process with its output in a log file under the temp dir.
func (h *harness) start(name string, args ...string) (*exec.Cmd, error) {
	return h.startWithEnv(name, nil, args...)
}

// startWithEnv is start with more environment variables (NAME=value).
func (h *harness) startWithEnv(name string, env []string, args ...string) (*exec.Cmd, error) {
	log, err := os.Create(filepath.Join(h.tmp, fmt.Sprintf("%s-%d.log", name, len(h.procs))))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = h.opts.root
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	h.procs = append(h.procs, cmd)
	return cmd, nil
}

func (h *harness) stopAll() {
	for _, p := range h.procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range h.procs {
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
	h.procs = nil
}

// startNATS runs the project's own NATS server and returns its URL.
func (h *harness) startNATS() (string, error) {
	cmd := exec.Command(h.path("bin/notebridge"), "nats", "-port", "0", "-data-dir", filepath.Join(h.tmp, "js"))
	cmd.Dir = h.opts.root
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	h.procs = append(h.procs, cmd)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("nats: %w", err)
	}
	return string(bytes.TrimSpace([]byte(line))), nil
}

// startGateway runs bin/notebridge against url with the bench contracts and
// returns the URL of the mirror contract.
func (h *harness) startGateway(url string) (string, *exec.Cmd, error) {
	addr := freeAddr()
	cmd, err := h.start("gateway", h.path("bin/notebridge"), "serve", "-listen", addr,
		"-nats-url", url, "-contracts-dir", "bench/contracts", "-auth", "none")
	return "http://" + addr + "/api/mirror/v1", cmd, err
}

func (h *harness) benchnode(args ...string) (*exec.Cmd, error) {
	return h.start("benchnode-"+args[0], append([]string{h.path("bin/benchnode")}, args...)...)
}

func (h *harness) pythonWorker(url string) (*exec.Cmd, error) {
	return h.start("python-worker", h.path("python-worker/.venv/bin/notebridge-worker"), "run",
		"bench/python/mirror_worker.py:worker", "--nats-url", url, "--contracts-dir", "bench/contracts")
}

// waitServing posts the body until the target answers 200 and, behind a
// gateway (want > 0), until its catalog counts want workers.
func (h *harness) waitServing(url string, want int) error {
	return h.waitServingBody(url, h.body, want)
}

// waitServingBody is waitServing with another request body.
func (h *harness) waitServingBody(url, body string, want int) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Post(url, "application/json", bytes.NewBufferString(body))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && (want == 0 || h.workers(url) >= want) {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not serve within 30s (logs in %s)", url, h.tmp)
}

// workers counts the workers the gateway's catalog reports for the contract
// at contractURL, http://addr/api/<name>/v<N> (its href in the catalog).
func (h *harness) workers(contractURL string) int {
	u, err := url.Parse(contractURL)
	if err != nil {
		return 0
	}
	resp, err := http.Get(u.Scheme + "://" + u.Host + "/api")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var c struct {
		Contracts []struct {
			Versions []struct {
				Href    string `json:"href"`
				Workers int    `json:"workers"`
			} `json:"versions"`
		} `json:"contracts"`
	}
	if json.NewDecoder(resp.Body).Decode(&c) != nil {
		return 0
	}
	for _, ct := range c.Contracts {
		for _, v := range ct.Versions {
			if v.Href == u.Path {
				return v.Workers
			}
		}
	}
	return 0
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// measure warms a target up, then drives it for the configured duration.
func (h *harness) measure(name, desc, url string, conns int, pid int) (result, error) {
	return h.measureBody(name, desc, url, h.body, conns, pid)
}

// measureBody is measure with another request body.
func (h *harness) measureBody(name, desc, url, body string, conns int, pid int) (result, error) {
	script, err := wrkScript(h.tmp, body)
	if err != nil {
		return result{}, err
	}
	if _, err := runWrk(script, url, conns, time.Second); err != nil { // warm-up
		return result{}, err
	}
	// wrk leaves the warm-up's last requests in flight: a slow worker would still be
	// busy with them, and answer some of the measured ones busy. One more request,
	// queued behind them, comes back once they are done.
	if err := h.waitServingBody(url, body, 0); err != nil {
		return result{}, err
	}
	r, err := runWrk(script, url, conns, h.opts.duration)
	if err != nil {
		return result{}, fmt.Errorf("%s: %w", name, err)
	}
	r.Name, r.Desc, r.Conns, r.PeakRSS = name, desc, conns, peakRSS(pid)
	fmt.Fprintf(os.Stderr, "%-7s %8.0f req/s  p50 %-9s p99 %-9s errors %d %s\n", name, r.RPS, r.P50, r.P99, r.Errors, r.ErrorKinds)
	return r, nil
}

// run measures every selected row group, each with fresh processes.
func (h *harness) run() ([]result, error) {
	var out []result
	groups := []struct {
		name string
		run  func() ([]result, error)
	}{
		{"R0", h.rowR0}, {"R1", h.rowR1}, {"G", h.rowG}, {"C", h.rowC}, {"P", h.rowP}, {"F", h.rowF}, {"B", h.rowB},
	}
	for _, g := range groups {
		if !h.opts.wants(g.name) {
			continue
		}
		rs, err := g.run()
		h.stopAll()
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

func (h *harness) rowR0() ([]result, error) {
	addr := freeAddr()
	p, err := h.benchnode("fixed", "-listen", addr, "-body", h.body)
	if err != nil {
		return nil, err
	}
	url := "http://" + addr + "/api/mirror/v1"
	if err := h.waitServing(url, 0); err != nil {
		return nil, err
	}
	r, err := h.measure("R0", "Fiber, fixed reply (framework ceiling)", url, h.opts.conns, p.Process.Pid)
	return []result{r}, err
}

func (h *harness) rowR1() ([]result, error) {
	natsURL, err := h.startNATS()
	if err != nil {
		return nil, err
	}
	if _, err := h.benchnode("mirror", "-nats", natsURL, "-contracts", "bench/contracts"); err != nil {
		return nil, err
	}
	addr := freeAddr()
	p, err := h.benchnode("bridge", "-listen", addr, "-nats", natsURL, "-subject", "nb.mirror.v1")
	if err != nil {
		return nil, err
	}
	url := "http://" + addr + "/api/mirror/v1"
	if err := h.waitServing(url, 0); err != nil {
		return nil, err
	}
	r, err := h.measure("R1", "Fiber + NATS request to a Go responder, no validation (bridge ceiling)", url, h.opts.conns, p.Process.Pid)
	if err != nil {
		return nil, err
	}
	// R1@1: the bridge's latency, the floor of G@1 that the HTTP hop sets.
	r1, err := h.measure("R1@1", "R1 at one connection, for latency", url, 1, p.Process.Pid)
	if err != nil {
		return nil, err
	}
	// R1h: the same bridge sending the gateway's request headers, so that G / R1h
	// is what validation costs, apart from what the protocol's headers cost.
	addr = freeAddr()
	p, err = h.benchnode("bridge", "-protocol", "-listen", addr, "-nats", natsURL, "-subject", "nb.mirror.v1", "-contracts", "bench/contracts")
	if err != nil {
		return nil, err
	}
	url = "http://" + addr + "/api/mirror/v1"
	if err := h.waitServing(url, 0); err != nil {
		return nil, err
	}
	rh, err := h.measure("R1h", "R1 sending the gateway's request headers (NewRequest), no validation", url, h.opts.conns, p.Process.Pid)
	return []result{r, r1, rh}, err
}

// gatewayStack starts NATS, the Go mirror responder (it answers every
// bench contract) and the gateway, and returns the NATS URL, the URL of
// contract (name/vN) and the gateway, once the contract is served.
func (h *harness) gatewayStack(contract string) (natsURL, url string, gw *exec.Cmd, err error) {
	if natsURL, err = h.startNATS(); err != nil {
		return "", "", nil, err
	}
	if _, err = h.benchnode("mirror", "-nats", natsURL, "-contracts", "bench/contracts"); err != nil {
		return "", "", nil, err
	}
	if url, gw, err = h.startGateway(natsURL); err != nil {
		return "", "", nil, err
	}
	url = strings.Replace(url, "/api/mirror/v1", "/api/"+contract, 1)
	return natsURL, url, gw, h.waitServing(url, 1)
}

func (h *harness) rowG() ([]result, error) {
	natsURL, url, gw, err := h.gatewayStack("mirror/v1")
	if err != nil {
		return nil, err
	}
	g, err := h.measure("G", "notebridge + Go worker, request and reply validated", url, h.opts.conns, gw.Process.Pid)
	if err != nil {
		return nil, err
	}
	g1, err := h.measure("G@1", "G at one connection (latency)", url, 1, gw.Process.Pid)
	if err != nil {
		return nil, err
	}
	n1, err := h.directNATS(natsURL)
	if err != nil {
		return nil, err
	}
	many, err := h.measure("G@many", "G holding many keep-alive connections (memory)", url, h.opts.manyConns, gw.Process.Pid)
	return []result{g, g1, n1, many}, err
}

// rowC is G's gateway and worker answering mirror_cached, whose replies
// the gateway serves from its JetStream reply cache: every request after
// the first is a hit.
func (h *harness) rowC() ([]result, error) {
	_, url, gw, err := h.gatewayStack("mirror_cached/v1")
	if err != nil {
		return nil, err
	}
	c, err := h.measure("C", "G's contract with a reply cache: every request a hit", url, h.opts.conns, gw.Process.Pid)
	if err != nil {
		return nil, err
	}
	c1, err := h.measure("C@1", "C at one connection (latency)", url, 1, gw.Process.Pid)
	return []result{c, c1}, err
}

// directNATS times sequential NATS requests from Go to the same worker:
// the floor under G@1's latency.
func (h *harness) directNATS(natsURL string) (result, error) {
	n := "5000"
	if h.opts.smoke {
		n = "200"
	}
	out, err := exec.Command(h.path("bin/benchnode"), "natsreq", "-nats", natsURL, "-subject", "nb.mirror.v1", "-body", h.body, "-n", n).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("natsreq: %v: %s", err, out)
	}
	m := regexp.MustCompile(`p50_us=([0-9]+) p99_us=([0-9]+)`).FindSubmatch(out)
	if m == nil {
		return result{}, fmt.Errorf("natsreq: unexpected output %s", out)
	}
	p50, _ := strconv.Atoi(string(m[1]))
	p99, _ := strconv.Atoi(string(m[2]))
	count, _ := strconv.Atoi(n)
	return result{Name: "N1", Desc: "direct NATS request from Go, sequential (latency floor)", Conns: 1,
		P50: time.Duration(p50) * time.Microsecond, P99: time.Duration(p99) * time.Microsecond, Requests: count}, nil
}

func (h *harness) rowP() ([]result, error) {
	natsURL, err := h.startNATS()
	if err != nil {
		return nil, err
	}
	url, gw, err := h.startGateway(natsURL)
	if err != nil {
		return nil, err
	}
	if _, err := h.pythonWorker(natsURL); err != nil {
		return nil, err
	}
	if err := h.waitServing(url, 1); err != nil {
		return nil, err
	}
	p1, err := h.measure("P1", "notebridge + 1 Python worker process", url, h.opts.conns, gw.Process.Pid)
	if err != nil {
		return nil, err
	}
	if _, err := h.pythonWorker(natsURL); err != nil {
		return nil, err
	}
	if err := h.waitServing(url, 2); err != nil {
		return nil, err
	}
	p2, err := h.measure("P2", "notebridge + 2 Python worker processes", url, h.opts.conns, gw.Process.Pid)
	return []result{p1, p2}, err
}

func (h *harness) rowF() ([]result, error) {
	addr := freeAddr()
	host, port, _ := net.SplitHostPort(addr)
	p, err := h.start("uvicorn", h.path("python-worker/.venv/bin/uvicorn"), "fastapi_mirror:app",
		"--app-dir", "bench/python", "--host", host, "--port", port,
		"--workers", "1", "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning")
	if err != nil {
		return nil, err
	}
	url := "http://" + addr + "/api/mirror"
	if err := h.waitServing(url, 0); err != nil {
		return nil, err
	}
	r, err := h.measure("F", "FastAPI + uvicorn, same handler, 1 process", url, h.opts.conns, p.Process.Pid)
	return []result{r}, err
}

// rowB measures two models behind notebridge, each one request per handler
// call and then in batches of up to 64 (bench/python/model_worker.py): a
// scikit-learn forest (B1, B64) and a small numpy MLP (M1, M64), each row
// with fresh processes.
func (h *harness) rowB() ([]result, error) {
	rows := []struct{ name, desc, worker string }{
		{"B1", "notebridge + 1 Python worker, scikit-learn forest, one request per call", "forest"},
		{"B64", "B1's model with batch=Batch(max_size=64, max_wait=2ms)", "forest_batched"},
		{"M1", "notebridge + 1 Python worker, numpy MLP, one request per call", "mlp"},
		{"M64", "M1's model with batch=Batch(max_size=64, max_wait=2ms)", "mlp_batched"},
	}
	var out []result
	for _, row := range rows {
		r, err := h.modelRow(row.name, row.desc, row.worker)
		h.stopAll()
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (h *harness) modelRow(name, desc, workerName string) (result, error) {
	natsURL, err := h.startNATS()
	if err != nil {
		return result{}, err
	}
	url, gw, err := h.startGateway(natsURL)
	if err != nil {
		return result{}, err
	}
	url = strings.TrimSuffix(url, "/mirror/v1") + "/score/v1"
	// One BLAS thread: two cores are shared with the gateway, NATS and wrk.
	blas := []string{"OPENBLAS_NUM_THREADS=1", "OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1"}
	if _, err := h.startWithEnv("model-worker", blas, h.path("python-worker/.venv/bin/notebridge-worker"), "run",
		"bench/python/model_worker.py:"+workerName, "--nats-url", natsURL, "--contracts-dir", "bench/contracts"); err != nil {
		return result{}, err
	}
	if err := h.waitServingBody(url, h.modelBody, 1); err != nil {
		return result{}, err
	}
	return h.measureBody(name, desc, url, h.modelBody, h.opts.conns, gw.Process.Pid)
}
