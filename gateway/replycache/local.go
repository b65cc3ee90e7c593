package replycache

import (
	"container/list"
	"sync"
	"time"
)

// local keeps the most recently used entries in the gateway's memory,
// within a byte bound, so that a hit costs no round trip to JetStream. An
// entry never changes (its key holds the contract digest and the request),
// so a local copy is right for as long as the shared one lives: until its
// creation time plus the contract's TTL.
type local struct {
	mu       sync.Mutex
	maxBytes int
	bytes    int
	order    *list.List // front: most recently used
	entries  map[string]*list.Element
}

type localEntry struct {
	key     string
	reply   []byte
	created time.Time
}

func newLocal(maxBytes int) *local {
	return &local{maxBytes: maxBytes, order: list.New(), entries: map[string]*list.Element{}}
}

// size is what an entry counts against the bound: its key and reply.
func (e *localEntry) size() int { return len(e.key) + len(e.reply) }

// get returns the entry under key if it is younger than ttl.
func (l *local) get(key string, ttl time.Duration) ([]byte, time.Duration, bool) {
	if l == nil {
		return nil, 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.entries[key]
	if !ok {
		return nil, 0, false
	}
	e := el.Value.(*localEntry)
	age := max(time.Since(e.created), 0)
	if age >= ttl {
		l.remove(el)
		return nil, 0, false
	}
	l.order.MoveToFront(el)
	return e.reply, age, true
}

// put keeps reply under key, dropping the least recently used entries
// past the bound; a reply larger than a quarter of it is not kept.
func (l *local) put(key string, reply []byte, created time.Time) {
	if l == nil {
		return
	}
	e := &localEntry{key: key, reply: reply, created: created}
	if e.size() > l.maxBytes/4 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.entries[key]; ok {
		l.remove(el)
	}
	l.entries[key] = l.order.PushFront(e)
	l.bytes += e.size()
	for l.bytes > l.maxBytes {
		l.remove(l.order.Back())
	}
}

func (l *local) remove(el *list.Element) {
	e := l.order.Remove(el).(*localEntry)
	delete(l.entries, e.key)
	l.bytes -= e.size()
}
