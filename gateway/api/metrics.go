package api

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/notebridge/notebridge/gateway/compose"
	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/wire"
)

// durationBuckets reach from a millisecond to ten minutes: model calls
// take seconds to minutes, validation microseconds.
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// Metrics are the gateway's Prometheus metrics, on a registry of their own,
// served at GET /metrics. Every label value is bounded: contract names and
// versions come from the registry, never from a request; no request id and
// no key is a label.
type Metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	gateway    *prometheus.HistogramVec
	firstChunk *prometheus.HistogramVec
	inflight   *prometheus.GaugeVec
	validation *prometheus.CounterVec
	noWorker   *prometheus.CounterVec
	timeouts   *prometheus.CounterVec
	shed       *prometheus.CounterVec
	attempts   *prometheus.CounterVec
	repairs    *prometheus.CounterVec
	tokens     *prometheus.CounterVec
	cost       *prometheus.CounterVec
	models     *labelSet
	cache      *prometheus.CounterVec
	branches   *prometheus.CounterVec
}

// NewMetrics registers the gateway's metrics for reg's contracts, NATS's
// connection state on nc, and the job queues (when reg has job contracts).
func NewMetrics(reg *contracts.Registry, nc *nats.Conn) *Metrics {
	byContract := []string{"contract", "version"}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notebridge_requests_total",
			Help: "Contract calls and job submissions answered, by contract, version and status class (2xx, 4xx, 5xx).",
		}, []string{"contract", "version", "status_class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "notebridge_request_duration_seconds", Buckets: durationBuckets,
			Help: "Time from a call's admission to its answer (a stream's end), end to end through the worker.",
		}, byContract),
		gateway: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "notebridge_gateway_duration_seconds", Buckets: durationBuckets,
			Help: "The gateway's own share of a sync call: its duration minus the wait for the worker's reply.",
		}, byContract),
		firstChunk: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "notebridge_stream_first_chunk_seconds", Buckets: durationBuckets,
			Help: "Time from a stream call's admission to its first chunk.",
		}, byContract),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "notebridge_inflight_requests",
			Help: "Contract calls being served now, by contract and version: a signal for autoscaling workers.",
		}, byContract),
		validation: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notebridge_validation_failures_total",
			Help: "Requests (side=request) and worker replies (side=reply) that broke their contract.",
		}, []string{"contract", "version", "side"}),
		noWorker: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notebridge_no_responders_total",
			Help: "Calls no worker was serving (503 no-worker).",
		}, byContract),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notebridge_timeouts_total",
			Help: "Calls that met their deadline (504 deadline-exceeded).",
		}, byContract),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notebridge_shed_requests_total",
			Help: "Calls shed at once (503 overloaded), by reason: contract_limit, gateway_limit, deadline.",
		}, []string{"contract", "version", "reason"}),
	}
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "notebridge_handler_attempts_total",
		Help: "Calls of a handler made for sync calls of contracts with repair: the first attempt and every repair.",
	}, byContract)
	m.repairs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "notebridge_repair_outcomes_total",
		Help: "Sync calls of contracts with repair by outcome: first_attempt, repaired, unrepaired (502 invalid-reply), failed (another error).",
	}, []string{"contract", "version", "outcome"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "notebridge_tokens_total",
		Help: "Tokens handlers reported, over every attempt, by model and direction (input, output); models past the 64th are \"other\".",
	}, []string{"contract", "version", "model", "direction"})
	m.cost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "notebridge_cost_total",
		Help: "Cost handlers reported, over every attempt, by model, in the handlers' currency unit.",
	}, []string{"contract", "version", "model"})
	m.models = newLabelSet(maxModelLabels)
	m.cache = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "notebridge_cache_requests_total",
		Help: "Calls of contracts with a reply cache, by result: hit, miss, bypass (Cache-Control: no-cache or no-store).",
	}, []string{"contract", "version", "result"})
	m.branches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "notebridge_composition_branches_total",
		Help: "Branch calls of composed contracts' sync calls (a map step's items included), by step and outcome: succeeded, failed.",
	}, []string{"contract", "version", "step", "outcome"})
	m.reg.MustRegister(m.requests, m.duration, m.gateway, m.firstChunk, m.inflight, m.validation, m.noWorker, m.timeouts, m.shed,
		m.attempts, m.repairs, m.tokens, m.cost, m.cache, m.branches,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "notebridge_nats_connected",
			Help: "1 while the gateway is connected to NATS, else 0.",
		}, func() float64 {
			if nc.IsConnected() {
				return 1
			}
			return 0
		}))
	if reg.HasJobs() {
		m.reg.MustRegister(&jobQueues{nc: nc, reg: reg, desc: prometheus.NewDesc("notebridge_job_queue_pending",
			"Jobs waiting for a worker, per job contract: the pending count of its JetStream consumer (KEDA's NATS JetStream scaler reads the same).",
			byContract, nil)})
	}
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
}

// begin counts an admitted call in flight.
func (m *Metrics) begin(k *call) {
	if m == nil {
		return
	}
	m.inflight.WithLabelValues(k.ct.Name, strconv.Itoa(k.ct.Version)).Inc()
}

// end records a call's outcome: p is its problem, nil when it succeeded.
// For a stream it runs when the stream ends.
func (m *Metrics) end(k *call, status int, p *Problem) {
	if m == nil {
		return
	}
	name, version := k.ct.Name, strconv.Itoa(k.ct.Version)
	m.inflight.WithLabelValues(name, version).Dec()
	total := time.Since(k.start)
	m.duration.WithLabelValues(name, version).Observe(total.Seconds())
	if !k.replied.IsZero() && k.ct.Mode == contracts.ModeSync {
		m.gateway.WithLabelValues(name, version).Observe((total - k.replied.Sub(k.dispatched)).Seconds())
	}
	m.outcome(name, version, status, p)
}

// refused records a call refused before it was admitted; only those whose
// contract is known are counted by contract.
func (m *Metrics) refused(status int, p *Problem) {
	if m == nil || p == nil || p.Contract == "" {
		return
	}
	name, version, ok := strings.Cut(p.Contract, "/v")
	if !ok {
		return
	}
	m.outcome(name, version, status, p)
	if p.shedReason != "" {
		m.shed.WithLabelValues(name, version, p.shedReason).Inc()
	}
}

func (m *Metrics) outcome(name, version string, status int, p *Problem) {
	m.requests.WithLabelValues(name, version, strconv.Itoa(status/100)+"xx").Inc()
	if p == nil {
		return
	}
	switch p.Type {
	case problemType(probInvalidRequest.slug):
		m.validation.WithLabelValues(name, version, "request").Inc()
	case problemType(probInvalidReply.slug):
		m.validation.WithLabelValues(name, version, "reply").Inc()
	case problemType(probNoWorker.slug):
		m.noWorker.WithLabelValues(name, version).Inc()
	case problemType(probDeadlineExceeded.slug):
		m.timeouts.WithLabelValues(name, version).Inc()
	}
}

// cached records how the reply cache took part in a call.
func (m *Metrics) cached(ct *contracts.Contract, result string) {
	if m == nil {
		return
	}
	m.cache.WithLabelValues(ct.Name, strconv.Itoa(ct.Version), result).Inc()
}

// chunked records the first chunk of a stream.
func (m *Metrics) chunked(k *call) {
	if m == nil {
		return
	}
	m.firstChunk.WithLabelValues(k.ct.Name, strconv.Itoa(k.ct.Version)).Observe(time.Since(k.start).Seconds())
}

// jobQueues reports the pending count of each job contract's consumer at
// each scrape.
type jobQueues struct {
	nc   *nats.Conn
	reg  *contracts.Registry
	desc *prometheus.Desc
}

func (q *jobQueues) Describe(ch chan<- *prometheus.Desc) { ch <- q.desc }

func (q *jobQueues) Collect(ch chan<- prometheus.Metric) {
	js, err := jetstream.New(q.nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, ct := range q.reg.All() {
		if ct.Mode != contracts.ModeJob {
			continue
		}
		cons, err := js.Consumer(ctx, wire.JobStream, wire.JobConsumer(ct.Name, ct.Version))
		if err != nil {
			continue // job mode not set up yet: no figure rather than a wrong one
		}
		info, err := cons.Info(ctx)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(q.desc, prometheus.GaugeValue, float64(info.NumPending), ct.Name, strconv.Itoa(ct.Version))
	}
}

// composed counts how the branches of a composed call ended.
func (m *Metrics) composed(ct *contracts.Contract, outcomes []compose.Outcome) {
	if m == nil {
		return
	}
	version := strconv.Itoa(ct.Version)
	for _, o := range outcomes {
		m.branches.WithLabelValues(ct.Name, version, o.Step, o.Outcome).Inc()
	}
}
