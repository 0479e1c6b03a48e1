package authlayer

import (
	"crypto/sha256"
	"log"
	"sync"
	"time"
)

// dedupCache is a bounded TTL cache that also deduplicates in-flight
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
type dedupCache struct {
	mu         sync.Mutex // protects entries, weak and flights
	entries    map[string]cacheEntry
	weak       map[string]cacheEntry
	flights    map[string]*flight
	maxEntries int   // per map
	staleFor   int64 // nanoseconds an expired strong entry still counts as recently seen
}

type cacheEntry struct {
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

// loadFunc performs a load; it returns the value, how long it may be
// cached (0: not at all, for transient answers), and whether it is a weak
// answer (see dedupCache).
type loadFunc func() (value interface{}, ttl time.Duration, weak bool)

// chargeFunc is asked, under the cache's lock, before this caller starts a
// load of its own: only a caller that really causes a backend call pays for
// it. stale is the expired strong entry for the key when it expired less
// than staleFor ago (nil otherwise). Returning false refuses the load.
type chargeFunc func(stale interface{}) bool

// loadOutcome says how load answered.
type loadOutcome int

const (
	loadHit     loadOutcome = iota // a live cached entry
	loadJoined                     // another caller's load
	loadLed                        // a load this caller started
	loadRefused                    // the charge was refused: nothing loaded
	loadFailed                     // the load yielded nothing, or the deadline came first
)

func newDedupCache(maxEntries int) *dedupCache {
	return &dedupCache{
		entries:    map[string]cacheEntry{},
		weak:       map[string]cacheEntry{},
		flights:    map[string]*flight{},
		maxEntries: maxEntries,
		staleFor:   int64(recentlySeen),
	}
}

// recentlySeen is how long after its cache entry expired a valid token
// still counts as known (it is not charged as an unknown token).
const recentlySeen = 10 * time.Minute

// cacheKey hashes the whole token: every segment of a JWT (a changed
// signature is a miss), and 32 bytes per key whatever the token's size.
func cacheKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return string(sum[:])
}

// cacheLookup returns a live cached value with its expiry (unix
// nanoseconds). A plain function, not a method: Yaegi calls functions much
// faster.
func cacheLookup(c *dedupCache, key string) (interface{}, int64, bool) {
	now := time.Now().UnixNano()
	c.mu.Lock()
	v, expires, ok := cacheLiveLocked(c, key, now)
	c.mu.Unlock()
	return v, expires, ok
}

// cacheLoad returns the cached value for key, or joins or starts the load, and
// waits for it until deadline (the zero time: no bound but the load's own).
// charge, when not nil, decides whether this caller may start a load.
func cacheLoad(c *dedupCache, key string, deadline time.Time, charge chargeFunc, fn loadFunc) (interface{}, loadOutcome) {
	now := time.Now().UnixNano()
	c.mu.Lock()
	if v, _, ok := cacheLiveLocked(c, key, now); ok {
		c.mu.Unlock()
		return v, loadHit
	}
	how := loadJoined
	f, running := c.flights[key]
	if !running {
		if charge != nil && !charge(cacheStaleLocked(c, key, now)) {
			c.mu.Unlock()
			return nil, loadRefused
		}
		f = &flight{}
		c.flights[key] = f
		how = loadLed
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
func awaitFlight(f *flight, ch chan bool, deadline time.Time, how loadOutcome) (interface{}, loadOutcome) {
	var timer *time.Timer
	if !deadline.IsZero() {
		timer = startDeadline(time.Until(deadline), ch)
	}
	answered := <-ch
	if timer != nil {
		endDeadline(timer)
	}
	if !answered || f.value == nil {
		return nil, loadFailed
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

// cacheLiveLocked is the live entry for key, strong or weak, with its
// expiry. Called with c.mu held.
func cacheLiveLocked(c *dedupCache, key string, now int64) (interface{}, int64, bool) {
	e, ok := c.entries[key]
	if !ok {
		e, ok = c.weak[key]
	}
	if !ok || now >= e.expires {
		return nil, 0, false
	}
	return e.value, e.expires, true
}

func cacheStaleLocked(c *dedupCache, key string, now int64) interface{} {
	e, ok := c.entries[key]
	if !ok || now >= e.expires+c.staleFor {
		return nil
	}
	return e.value
}

// leadFlight runs the load and publishes it. The deferred publish runs
// even if fn panics, so waiters are never stranded; the panic is logged,
// not re-raised (this goroutine belongs to no request).
func leadFlight(c *dedupCache, key string, f *flight, fn loadFunc) {
	defer publishFlight(c, key, f)
	f.value, f.ttl, f.weak = fn()
}

// publishFlight stores a finished load, removes its flight and wakes its
// waiters, in that order: a caller arriving at any moment finds either the
// flight or the entry.
func publishFlight(c *dedupCache, key string, f *flight) {
	if r := recover(); r != nil {
		log.Printf("authlayer: backend call failed: %v", r)
		f.value = nil // two statements: Yaegi fails on `f.value, f.ttl = nil, 0`
		f.ttl = 0
	}
	c.mu.Lock()
	if f.ttl > 0 && f.value != nil {
		cacheStoreLocked(c, key, f.value, time.Now().Add(f.ttl).UnixNano(), f.weak)
	}
	delete(c.flights, key)
	waiters := f.waiters
	c.mu.Unlock()
	for i := 0; i < len(waiters); i++ {
		waiters[i] <- true
	}
}

// cacheStore stores value for ttl: a result obtained without a load
// (a token verified locally).
func cacheStore(c *dedupCache, key string, value interface{}, ttl time.Duration, weak bool) {
	expires := time.Now().Add(ttl).UnixNano()
	c.mu.Lock()
	cacheStoreLocked(c, key, value, expires, weak)
	c.mu.Unlock()
}

// cacheDelete drops key's entry, strong or weak (a logged-out session's
// remembered refresh).
func cacheDelete(c *dedupCache, key string) {
	c.mu.Lock()
	delete(c.entries, key)
	delete(c.weak, key)
	c.mu.Unlock()
}

// cacheStoreLocked adds an entry to the strong or the weak map (and drops any
// older one of the other kind), making room first when that map is full.
func cacheStoreLocked(c *dedupCache, key string, value interface{}, expires int64, weak bool) {
	into, other := c.entries, c.weak
	if weak {
		into, other = c.weak, c.entries
	}
	delete(other, key)
	if _, exists := into[key]; !exists && len(into) >= c.maxEntries {
		evictLocked(into, c.maxEntries)
	}
	into[key] = cacheEntry{value: value, expires: expires}
}

// evictLocked makes room in one map: expired entries go, then arbitrary
// ones (map order), down to 90% of the bound.
func evictLocked(m map[string]cacheEntry, maxEntries int) {
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

// size reports the number of entries, for tests and benchmarks.
func (c *dedupCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries) + len(c.weak)
}
