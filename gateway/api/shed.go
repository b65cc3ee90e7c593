package api

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/notebridge/notebridge/gateway/contracts"
)

// Default bounds on the calls the gateway serves at once.
const (
	DefaultMaxInflight            = 4096
	DefaultMaxInflightPerContract = 1024
)

// minSamples is how many calls of a contract version must have succeeded
// before their typical duration is trusted to shed a call.
const minSamples = 10

// admission bounds the sync and stream calls in flight, per contract
// version and in all, and sheds a call that would outlive its deadline:
// past a bound, or when the contract's calls take longer than the call
// may, the client gets 503 at once instead of a timeout later, and the
// calls already admitted keep their pace.
type admission struct {
	maxTotal, maxPer int64
	total            atomic.Int64
	mu               sync.Mutex
	byContract       map[string]*contractLoad
}

// contractLoad is one contract version's calls in flight and the moving
// average of how long its successful calls took.
type contractLoad struct {
	inflight atomic.Int64
	mu       sync.Mutex
	typical  float64 // seconds, exponentially weighted
	samples  int
}

func newAdmission(maxTotal, maxPer int) *admission {
	return &admission{maxTotal: int64(maxTotal), maxPer: int64(maxPer), byContract: map[string]*contractLoad{}}
}

func (a *admission) load(ct *contracts.Contract) *contractLoad {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.byContract[ct.ID()]
	if !ok {
		l = &contractLoad{}
		a.byContract[ct.ID()] = l
	}
	return l
}

// enter admits k, or says why not. The release it sets on k must run when
// the call ends.
func (a *admission) enter(k *call) *Problem {
	if a == nil || k.ct.Mode == contracts.ModeJob { // a job submission waits for nothing
		return nil
	}
	l := a.load(k.ct)
	if typical, ok := l.typicalDuration(); ok && typical > time.Until(k.deadline) {
		return overloaded(k.ct, "deadline", fmt.Sprintf("%s calls take %s, longer than this call's deadline allows (%s)",
			k.ct.ID(), typical.Round(time.Millisecond), time.Until(k.deadline).Round(time.Millisecond)))
	}
	if n := l.inflight.Add(1); n > a.maxPer {
		l.inflight.Add(-1)
		return overloaded(k.ct, "contract_limit", fmt.Sprintf("%s has %d calls in flight, its limit", k.ct.ID(), a.maxPer))
	}
	if n := a.total.Add(1); n > a.maxTotal {
		a.total.Add(-1)
		l.inflight.Add(-1)
		return overloaded(k.ct, "gateway_limit", fmt.Sprintf("the gateway has %d calls in flight, its limit", a.maxTotal))
	}
	k.release = func(ok bool) {
		if ok {
			l.observe(time.Since(k.start))
		}
		l.inflight.Add(-1)
		a.total.Add(-1)
	}
	return nil
}

// observe folds a successful call's duration into the typical one.
func (l *contractLoad) observe(d time.Duration) {
	const weight = 0.2
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.samples == 0 {
		l.typical = d.Seconds()
	} else {
		l.typical += weight * (d.Seconds() - l.typical)
	}
	l.samples++
}

func (l *contractLoad) typicalDuration() (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.samples < minSamples || math.IsNaN(l.typical) {
		return 0, false
	}
	return time.Duration(l.typical * float64(time.Second)), true
}
