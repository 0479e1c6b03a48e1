package authlayer

import (
	"sync"
	"time"
)

// callSlots caps the backend calls in flight (backend.maxConcurrent). A
// call beyond the cap waits in line for a free slot until its deadline and
// fails (closed: "backend unavailable") only when that comes first; a burst
// of cold sessions after a restart or a reload is served late rather than
// answered 503. No client may hold more than half of the slots, so one
// client cannot starve the rest; the line is bounded too.
//
// Waiting uses a per-waiter channel fed either by a release or by a timer,
// never a select: Yaegi v0.16.1 shares a select's case list between
// goroutines.
type callSlots struct {
	mu        sync.Mutex // protects everything below
	max       int
	perClient int
	maxQueue  int
	inUse     int
	byClient  map[string]int
	queue     []*slotWaiter
}

// slotWaiter is one call waiting for a slot. done is set, under the lock,
// by whichever of a release or the timer settles it first.
type slotWaiter struct {
	client string
	ch     chan bool
	done   bool
}

// slotQueueFactor bounds the line at this many times the slots.
const slotQueueFactor = 16

func newCallSlots(size int) *callSlots {
	perClient := size / 2
	if perClient < 1 {
		perClient = 1
	}
	return &callSlots{max: size, perClient: perClient, maxQueue: slotQueueFactor * size, byClient: map[string]int{}}
}

// slotAcquire takes a slot for client, waiting until deadline at the latest.
// It reports whether it got one; a caller that got one must release it.
func slotAcquire(s *callSlots, client string, deadline time.Time) bool {
	s.mu.Lock()
	if s.inUse < s.max && s.byClient[client] < s.perClient {
		slotTakeLocked(s, client)
		s.mu.Unlock()
		return true
	}
	wait := time.Until(deadline)
	if wait <= 0 || len(s.queue) >= s.maxQueue {
		s.mu.Unlock()
		return false
	}
	w := &slotWaiter{client: client, ch: make(chan bool, 1)}
	s.queue = append(s.queue, w)
	s.mu.Unlock()
	// A timer and a plain goroutine, not time.AfterFunc with a closure
	// (see startDeadline in cache.go).
	timer := time.NewTimer(wait)
	go expireAt(s, w, timer.C)
	got := <-w.ch
	timer.Reset(0) // ends expireAt now; w is settled, so it does nothing
	return got
}

// expireAt ends w's wait when fired delivers, unless a release came first.
func expireAt(s *callSlots, w *slotWaiter, fired <-chan time.Time) {
	<-fired
	slotExpire(s, w)
}

func slotTakeLocked(s *callSlots, client string) {
	s.inUse++
	s.byClient[client]++
}

// slotRelease frees client's slot and hands it to the first waiter whose
// client is under its share.
func slotRelease(s *callSlots, client string) {
	s.mu.Lock()
	s.inUse--
	if s.byClient[client] <= 1 {
		delete(s.byClient, client)
	} else {
		s.byClient[client]--
	}
	for i, w := range s.queue {
		if s.inUse < s.max && s.byClient[w.client] < s.perClient {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			w.done = true
			slotTakeLocked(s, w.client)
			w.ch <- true
			break
		}
	}
	s.mu.Unlock()
}

// slotExpire ends a wait that reached its deadline, unless a release got there
// first.
func slotExpire(s *callSlots, w *slotWaiter) {
	s.mu.Lock()
	if !w.done {
		w.done = true
		for i, q := range s.queue {
			if q == w {
				s.queue = append(s.queue[:i], s.queue[i+1:]...)
				break
			}
		}
		w.ch <- false
	}
	s.mu.Unlock()
}

// slotsBusy reports the slots in use, for tests.
func slotsBusy(s *callSlots) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inUse
}
