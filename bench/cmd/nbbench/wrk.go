package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// result is one row of the report.
type result struct {
	Name     string
	Desc     string
	Conns    int
	RPS      float64
	P50, P99 time.Duration
	Requests int
	Errors   int
	// ErrorKinds says what the errors were ("non-2xx 3, read 2"), for a row with errors.
	ErrorKinds string
	// PeakRSS is the gateway's (or the single server's) peak resident memory.
	PeakRSS int64
}

var (
	rpsLine   = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	totalLine = regexp.MustCompile(`([0-9]+) requests in`)
	pctLine   = regexp.MustCompile(`^\s+(50|99)%\s+([0-9.]+)(us|ms|s)`)
	non2xx    = regexp.MustCompile(`Non-2xx or 3xx responses:\s+([0-9]+)`)
	sockErrs  = regexp.MustCompile(`Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)`)
)

// wrkScript writes the Lua script that makes wrk POST body as JSON.
func wrkScript(dir, body string) (string, error) {
	path := filepath.Join(dir, "post.lua")
	script := fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = %q\nwrk.headers[\"Content-Type\"] = \"application/json\"\n", body)
	return path, os.WriteFile(path, []byte(script), 0o644)
}

// runWrk drives url and parses wrk's report.
func runWrk(script, url string, conns int, d time.Duration) (result, error) {
	threads := 2
	if conns < threads {
		threads = conns
	}
	cmd := exec.Command("wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), "--timeout", "10s", "--latency", "-s", script, url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %v: %s", err, out)
	}
	return parseWrk(string(out))
}

func parseWrk(out string) (result, error) {
	var r result
	m := rpsLine.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	r.RPS, _ = strconv.ParseFloat(m[1], 64)
	if m := totalLine.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.Atoi(m[1])
	}
	var kinds []string
	count := func(kind, digits string) {
		if n, _ := strconv.Atoi(digits); n > 0 {
			r.Errors += n
			kinds = append(kinds, fmt.Sprintf("%s %d", kind, n))
		}
	}
	if m := non2xx.FindStringSubmatch(out); m != nil {
		count("non-2xx", m[1])
	}
	if m := sockErrs.FindStringSubmatch(out); m != nil {
		for i, kind := range []string{"connect", "read", "write", "timeout"} {
			count(kind, m[i+1])
		}
	}
	r.ErrorKinds = strings.Join(kinds, ", ")
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		m := pctLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]
		d := time.Duration(v * float64(unit))
		if m[1] == "50" {
			r.P50 = d
		} else {
			r.P99 = d
		}
	}
	return r, nil
}

// peakRSS reads a process's high-water resident memory, in bytes.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
