// Package cache is a bounded TTL cache that also deduplicates in-flight
// loads: however many requests miss on one key at once, one load runs and
// every waiter gets its result. Entries expire lazily (no janitor
// goroutine: Traefik builds instances on every reload and a goroutine per
// instance would leak).
//
// The cache check and the join of an in-flight load happen under one lock,
// and a finished load is stored before its flight is removed, so a request
// arriving at any moment either joins the flight or hits the cache: N
// concurrent misses make exactly one load.
//
// A load runs on its own goroutine, detached from every request (the
// leader's client may leave while others wait; a refresh cut off mid-call
// would lose a rotated token), and ends within backend.timeout. Every
// caller, the one that started it included, waits for it only until its
// own deadline.
//
// Answers come in two kinds with separate bounds. Strong entries are what
// users need (a valid session, a finished refresh); weak entries are what
// anyone can cause cheaply (an invalid token, a failed refresh). A flood of
// junk tokens fills and churns the weak map only, and never displaces a
// strong entry.
//
// The operations are plain functions taking the cache first, not methods:
// Yaegi calls functions much faster, and Lookup is on the cached request
// path.
package cache

import (
	"crypto/sha256"
	"log"
	"sync"
	"time"
)

// Dedup is one cache with its in-flight loads. Make it with New.
type Dedup struct {
	mu         sync.Mutex // protects entries, weak and flights
	entries    map[string]entry
	weak       map[string]entry
	flights    map[string]*flight
	maxEntries int   // per map
	staleFor   int64 // nanoseconds an expired strong entry still counts as recently seen
}

type entry struct {
	value   interface{}
	expires int64 // unix nanoseconds
}

// flight is one load in progress. value is set before the waiters are
// told; each waiter's channel has room for both the answer and its own
// timer, so no send ever blocks.
type flight struct {
	value   interface{}
	ttl     time.Duration
	weak    bool
	waiters []chan bool
}

// LoadFunc performs a load; it returns the value, how long it may be
// cached (0: not at all, for transient answers), and whether it is a weak
// answer (see the package comment).
type LoadFunc func() (value interface{}, ttl time.Duration, weak bool)

// ChargeFunc is asked, under the cache's lock, before this caller starts a
// load of its own: only a caller that really causes a backend call pays for
// it. stale is the expired strong entry for the key when it expired less
// than recentlySeen ago (nil otherwise). Returning false refuses the load.
type ChargeFunc func(stale interface{}) bool

// Outcome says how Load answered.
type Outcome int

const (
	Hit     Outcome = iota // a live cached entry
	Joined                 // another caller's load
	Led                    // a load this caller started
	Refused                // the charge was refused: nothing loaded
	Failed                 // the load yielded nothing, or the deadline came first
)

// New is an empty cache holding at most maxEntries strong and maxEntries
// weak entries.
func New(maxEntries int) *Dedup {
	return &Dedup{
		entries:    map[string]entry{},
		weak:       map[string]entry{},
		flights:    map[string]*flight{},
		maxEntries: maxEntries,
		staleFor:   int64(recentlySeen),
	}
}

// recentlySeen is how long after its cache entry expired a valid token
// still counts as known (it is not charged as an unknown token).
const recentlySeen = 10 * time.Minute

// Key hashes the whole token: every segment of a JWT (a changed
// signature is a miss), and 32 bytes per key whatever the token's size.
func Key(token string) string {
	sum := sha256.Sum256([]byte(token))
	return string(sum[:])
}

// Lookup returns a live cached value with its expiry (unix nanoseconds).
//
// liveLocked's body, inlined: on every request's path, and under Yaegi a
// call allocates the callee's whole frame.
func Lookup(c *Dedup, key string) (interface{}, int64, bool) {
	now := time.Now().UnixNano()
	c.mu.Lock()
	e, ok := c.entries[key]
	if !ok {
		e, ok = c.weak[key]
	}
	c.mu.Unlock()
	if !ok || now >= e.expires {
		return nil, 0, false
	}
	return e.value, e.expires, true
}

// Load returns the cached value for key, or joins or starts the load, and
// waits for it until deadline (the zero time: no bound but the load's own).
// charge, when not nil, decides whether this caller may start a load.
func Load(c *Dedup, key string, deadline time.Time, charge ChargeFunc, fn LoadFunc) (interface{}, Outcome) {
	now := time.Now().UnixNano()
	c.mu.Lock()
	if v, _, ok := liveLocked(c, key, now); ok {
		c.mu.Unlock()
		return v, Hit
	}
	how := Joined
	f, running := c.flights[key]
	if !running {
		if charge != nil && !charge(staleLocked(c, key, now)) {
			c.mu.Unlock()
			return nil, Refused
		}
		f = &flight{}
		c.flights[key] = f
		how = Led
	}
	ch := make(chan bool, 2)
	f.waiters = append(f.waiters, ch)
	c.mu.Unlock()
	if !running {
		// A plain function, not a method value: Yaegi v0.16.1 builds a
		// method value's wrapper lazily, racing on its first concurrent uses.
		go leadFlight(c, key, f, fn)
	}
	return awaitFlight(f, ch, deadline, how)
}

// awaitFlight waits for the flight's answer or the deadline, whichever
// comes first. A plain receive fed by a timer, not a select: Yaegi v0.16.1
// shares a select's case list between goroutines (a data race).
func awaitFlight(f *flight, ch chan bool, deadline time.Time, how Outcome) (interface{}, Outcome) {
	var timer *time.Timer
	if !deadline.IsZero() {
		timer = startDeadline(time.Until(deadline), ch)
	}
	answered := <-ch
	if timer != nil {
		endDeadline(timer)
	}
	if !answered || f.value == nil {
		return nil, Failed
	}
	return f.value, how
}

// startDeadline sends false on ch after d. It uses a timer and a
// forwarding goroutine rather than time.AfterFunc: Yaegi v0.16.1 builds the
// wrapper of an interpreted function handed to compiled code lazily, and
// that races on its first concurrent uses. endDeadline releases the
// goroutine at once (it never outlives the wait by more than that).
func startDeadline(d time.Duration, ch chan bool) *time.Timer {
	timer := time.NewTimer(d)
	go forwardDeadline(timer.C, ch)
	return timer
}

func forwardDeadline(fired <-chan time.Time, ch chan bool) {
	<-fired
	ch <- false
}

// endDeadline makes the timer fire now, so its forwarding goroutine ends;
// the caller no longer reads ch, whose room takes the extra send.
func endDeadline(timer *time.Timer) {
	timer.Reset(0)
}

// liveLocked is the live entry for key, strong or weak, with its
// expiry. Called with c.mu held.
func liveLocked(c *Dedup, key string, now int64) (interface{}, int64, bool) {
	e, ok := c.entries[key]
	if !ok {
		e, ok = c.weak[key]
	}
	if !ok || now >= e.expires {
		return nil, 0, false
	}
	return e.value, e.expires, true
}

func staleLocked(c *Dedup, key string, now int64) interface{} {
	e, ok := c.entries[key]
	if !ok || now >= e.expires+c.staleFor {
		return nil
	}
	return e.value
}

// leadFlight runs the load and publishes it. The deferred publish runs
// even if fn panics, so waiters are never stranded; the panic is logged,
// not re-raised (this goroutine belongs to no request).
func leadFlight(c *Dedup, key string, f *flight, fn LoadFunc) {
	defer publishFlight(c, key, f)
	f.value, f.ttl, f.weak = fn()
}

// publishFlight stores a finished load, removes its flight and wakes its
// waiters, in that order: a caller arriving at any moment finds either the
// flight or the entry.
func publishFlight(c *Dedup, key string, f *flight) {
	if r := recover(); r != nil {
		log.Printf("authlayer: backend call failed: %v", r)
		f.value = nil // two statements: Yaegi fails on `f.value, f.ttl = nil, 0`
		f.ttl = 0
	}
	c.mu.Lock()
	if f.ttl > 0 && f.value != nil {
		storeLocked(c, key, f.value, time.Now().Add(f.ttl).UnixNano(), f.weak)
	}
	delete(c.flights, key)
	waiters := f.waiters
	c.mu.Unlock()
	for i := 0; i < len(waiters); i++ {
		waiters[i] <- true
	}
}

// Store stores value for ttl: a result obtained without a load
// (a token verified locally).
func Store(c *Dedup, key string, value interface{}, ttl time.Duration, weak bool) {
	expires := time.Now().Add(ttl).UnixNano()
	c.mu.Lock()
	storeLocked(c, key, value, expires, weak)
	c.mu.Unlock()
}

// Delete drops key's entry, strong or weak (a logged-out session's
// remembered refresh).
func Delete(c *Dedup, key string) {
	c.mu.Lock()
	delete(c.entries, key)
	delete(c.weak, key)
	c.mu.Unlock()
}

// storeLocked adds an entry to the strong or the weak map (and drops any
// older one of the other kind), making room first when that map is full.
func storeLocked(c *Dedup, key string, value interface{}, expires int64, weak bool) {
	into, other := c.entries, c.weak
	if weak {
		into, other = c.weak, c.entries
	}
	delete(other, key)
	if _, exists := into[key]; !exists && len(into) >= c.maxEntries {
		evictLocked(into, c.maxEntries)
	}
	into[key] = entry{value: value, expires: expires}
}

// evictLocked makes room in one map: expired entries go, then arbitrary
// ones (map order), down to 90% of the bound.
func evictLocked(m map[string]entry, maxEntries int) {
	now := time.Now().UnixNano()
	for k, e := range m {
		if now >= e.expires {
			delete(m, k)
		}
	}
	target := maxEntries - maxEntries/10 - 1
	for k := range m {
		if len(m) <= target {
			break
		}
		delete(m, k)
	}
}
