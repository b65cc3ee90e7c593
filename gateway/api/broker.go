package api

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// errBrokerDown is the cause of every call the gateway gives up on because
// its NATS connection is down.
var errBrokerDown = errors.New("the connection is down")

// broker follows the state of the gateway's NATS connection, so that a
// call is refused at once while it is down and a call in flight is given
// up the moment it drops. Left to itself, nats.go buffers publishes while
// it reconnects and lets a request wait for a reply that can no longer
// come, so the client would learn nothing until its deadline.
type broker struct {
	nc  *nats.Conn
	cur atomic.Pointer[link]
}

// link is one spell of being connected: its context ends, with a cause
// wrapping errBrokerDown, when the connection is lost. A reconnection
// starts a new link; calls on the old one stay given up, as their
// messages may have been lost in between.
type link struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func newLink() *link {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &link{ctx: ctx, cancel: cancel}
}

// newBroker starts following nc until it is closed.
func newBroker(nc *nats.Conn) *broker {
	b := &broker{nc: nc}
	events := nc.StatusChanged(nats.CONNECTED, nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	b.cur.Store(newLink())
	if st := nc.Status(); !connected(st) {
		b.lost(st)
	}
	if nc.IsClosed() {
		nc.RemoveStatusListener(events)
		return b
	}
	go b.follow(events)
	return b
}

// follow applies each status change as it was reported, not the status of
// the moment: a drop followed at once by a reconnection must still end the
// link the calls in flight were made on.
func (b *broker) follow(events chan nats.Status) {
	defer b.nc.RemoveStatusListener(events)
	for st := range events {
		if st == nats.CONNECTED {
			if b.cur.Load().ctx.Err() != nil {
				b.cur.Store(newLink())
			}
			continue
		}
		b.lost(st)
		if st == nats.CLOSED {
			return
		}
	}
}

func (b *broker) lost(st nats.Status) {
	b.cur.Load().cancel(fmt.Errorf("%w (%s)", errBrokerDown, st))
}

// connected reports whether a connection in status st can carry requests.
func connected(st nats.Status) bool {
	return st == nats.CONNECTED || st == nats.DRAINING_SUBS || st == nats.DRAINING_PUBS
}

// link returns the current link, or the problem to answer when the
// connection is down. A call made in the moment between a drop and follow
// hearing of it is given up when follow does: it runs on the link's
// context. So the connection's own status, which takes its lock, need not
// be asked on every call.
func (b *broker) link() (*link, *Problem) {
	l := b.cur.Load()
	if l.ctx.Err() != nil {
		return nil, brokerDown(l.ctx)
	}
	return l, nil
}

// brokerDown is the answer to a call given up because ctx's link ended.
func brokerDown(ctx context.Context) *Problem {
	return natsUnavailable(context.Cause(ctx).Error())
}

// lostDuring reports whether ctx, derived from a link, ended because the
// link did rather than at its own deadline.
func lostDuring(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), errBrokerDown)
}
