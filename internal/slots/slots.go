// Package slots caps the backend calls in flight (backend.maxConcurrent).
// A call beyond the cap waits in line for a free slot until its deadline
// and fails (closed: "backend unavailable") only when that comes first; a
// burst of cold sessions after a restart or a reload is served late rather
// than answered 503. No client may hold more than half of the slots, so
// one client cannot starve the rest; the line is bounded too.
//
// Waiting uses a per-waiter channel fed either by a release or by a timer,
// never a select: Yaegi v0.16.1 shares a select's case list between
// goroutines.
//
// The operations are plain functions taking the pool first, not methods:
// Yaegi calls functions much faster.
package slots

import (
	"sync"
	"time"
)

// Pool is one backend's call slots. Make it with New.
type Pool struct {
	mu        sync.Mutex // protects everything below
	max       int
	perClient int
	maxQueue  int
	inUse     int
	byClient  map[string]int
	queue     []*waiter
}

// waiter is one call waiting for a slot. done is set, under the lock,
// by whichever of a release or the timer settles it first.
type waiter struct {
	client string
	ch     chan bool
	done   bool
}

// queueFactor bounds the line at this many times the slots.
const queueFactor = 16

// New is a pool of size slots, at most half of them (at least one) per
// client.
func New(size int) *Pool {
	perClient := size / 2
	if perClient < 1 {
		perClient = 1
	}
	return &Pool{max: size, perClient: perClient, maxQueue: queueFactor * size, byClient: map[string]int{}}
}

// Acquire takes a slot for client, waiting until deadline at the latest.
// It reports whether it got one; a caller that got one must Release it.
func Acquire(p *Pool, client string, deadline time.Time) bool {
	p.mu.Lock()
	if p.inUse < p.max && p.byClient[client] < p.perClient {
		takeLocked(p, client)
		p.mu.Unlock()
		return true
	}
	wait := time.Until(deadline)
	if wait <= 0 || len(p.queue) >= p.maxQueue {
		p.mu.Unlock()
		return false
	}
	w := &waiter{client: client, ch: make(chan bool, 1)}
	p.queue = append(p.queue, w)
	p.mu.Unlock()
	// A timer and a plain goroutine, not time.AfterFunc with a closure:
	// Yaegi v0.16.1 builds the wrapper of an interpreted function handed
	// to compiled code lazily, and that races on its first concurrent uses.
	timer := time.NewTimer(wait)
	go expireAt(p, w, timer.C)
	got := <-w.ch
	timer.Reset(0) // ends expireAt now; w is settled, so it does nothing
	return got
}

// expireAt ends w's wait when fired delivers, unless a release came first.
func expireAt(p *Pool, w *waiter, fired <-chan time.Time) {
	<-fired
	expire(p, w)
}

func takeLocked(p *Pool, client string) {
	p.inUse++
	p.byClient[client]++
}

// Release frees client's slot and hands it to the first waiter whose
// client is under its share.
func Release(p *Pool, client string) {
	p.mu.Lock()
	p.inUse--
	if p.byClient[client] <= 1 {
		delete(p.byClient, client)
	} else {
		p.byClient[client]--
	}
	for i, w := range p.queue {
		if p.inUse < p.max && p.byClient[w.client] < p.perClient {
			p.queue = append(p.queue[:i], p.queue[i+1:]...)
			w.done = true
			takeLocked(p, w.client)
			w.ch <- true
			break
		}
	}
	p.mu.Unlock()
}

// expire ends a wait that reached its deadline, unless a release got there
// first.
func expire(p *Pool, w *waiter) {
	p.mu.Lock()
	if !w.done {
		w.done = true
		for i, q := range p.queue {
			if q == w {
				p.queue = append(p.queue[:i], p.queue[i+1:]...)
				break
			}
		}
		w.ch <- false
	}
	p.mu.Unlock()
}

// Busy reports the slots in use (tests: a call that left released its
// slot).
func Busy(p *Pool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse
}
