package main

import (
	"fmt"
	"io"
	"time"
)

// report prints the rows and the ratios the targets are stated in.
func report(w io.Writer, opts options, rs []result) {
	by := map[string]result{}
	fmt.Fprintf(w, "\n| row | what | conns | req/s | p50 | p99 | errors | peak RSS |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		by[r.Name] = r
		rps, rss := "-", "-"
		if r.RPS > 0 {
			rps = fmt.Sprintf("%.0f", r.RPS)
		}
		if r.PeakRSS > 0 {
			rss = fmt.Sprintf("%.1f MiB", float64(r.PeakRSS)/(1<<20))
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %d | %s |\n", r.Name, r.Desc, r.Conns, rps, dur(r.P50), dur(r.P99), r.Errors, rss)
	}
	fmt.Fprintf(w, "\n| ratio | value | target |\n|---|---|---|\n")
	ratio := func(name, a, b, target string) {
		ra, okA := by[a]
		rb, okB := by[b]
		if okA && okB && rb.RPS > 0 {
			fmt.Fprintf(w, "| %s | %.2f | %s |\n", name, ra.RPS/rb.RPS, target)
		}
	}
	ratio("R1 / R0 (cost of the NATS hop)", "R1", "R0", "-")
	ratio("G / R1 (cost of validating both hops)", "G", "R1", "≥ 0.85")
	ratio("R1h / R1 (cost of the protocol's request headers)", "R1h", "R1", "-")
	ratio("G / R1h (cost of validating both hops, same headers)", "G", "R1h", "-")
	ratio("C / G (a reply cache hit vs a call of the worker)", "C", "G", "-")
	ratio("P1 / F (Python worker behind notebridge vs FastAPI)", "P1", "F", "≥ 1.5")
	ratio("P2 / F", "P2", "F", "-")
	ratio("P2 / P1 (scaling out)", "P2", "P1", "-")
	ratio("B64 / B1 (batching a scikit-learn forest)", "B64", "B1", "≥ 5")
	ratio("M64 / M1 (batching a small numpy MLP)", "M64", "M1", "-")
	if g1, ok := by["G@1"]; ok {
		if n1, ok := by["N1"]; ok {
			fmt.Fprintf(w, "| gateway-added latency, p50 G@1 − p50 N1 | %s | ≤ 100µs |\n", dur(g1.P50-n1.P50))
			if r1, ok := by["R1@1"]; ok {
				fmt.Fprintf(w, "| of which the HTTP hop, p50 R1@1 − p50 N1 | %s | - |\n", dur(r1.P50-n1.P50))
				fmt.Fprintf(w, "| and notebridge's own work, p50 G@1 − p50 R1@1 | %s | - |\n", dur(g1.P50-r1.P50))
			}
		}
	}
	if m, ok := by["G@many"]; ok {
		fmt.Fprintf(w, "| gateway peak RSS at %d connections | %.1f MiB | ≤ 64 MiB |\n", m.Conns, float64(m.PeakRSS)/(1<<20))
	}
	fmt.Fprintf(w, "\nduration %s per row, %d connections (wrk, loopback)\n", opts.duration, opts.conns)
}

func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(time.Microsecond).String()
}
