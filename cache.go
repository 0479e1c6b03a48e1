package authlayer

import (
	"crypto/sha256"
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
type dedupCache struct {
	mu         sync.Mutex // protects entries and flights
	entries    map[string]cacheEntry
	flights    map[string]*flight
	maxEntries int
}

type cacheEntry struct {
	value   interface{}
	expires int64 // unix nanoseconds
}

// flight is one load in progress; done is closed once value is set.
type flight struct {
	done  chan struct{}
	value interface{}
}

// loadFunc performs a load; it returns the value and how long it may be
// cached (0: not at all, for transient answers).
type loadFunc func() (value interface{}, ttl time.Duration)

func newDedupCache(maxEntries int) *dedupCache {
	return &dedupCache{
		entries:    map[string]cacheEntry{},
		flights:    map[string]*flight{},
		maxEntries: maxEntries,
	}
}

// cacheKey hashes the whole token: every segment of a JWT (a changed
// signature is a miss), and 32 bytes per key whatever the token's size.
func cacheKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return string(sum[:])
}

// cacheGet returns a live cached value. A plain function, not a method: it
// is on every request's path, and Yaegi calls functions much faster.
func cacheGet(c *dedupCache, key string) (interface{}, bool) {
	now := time.Now().UnixNano()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if !ok || now >= e.expires {
		return nil, false
	}
	return e.value, true
}

// load returns the cached value for key, or joins or starts the load. The
// load runs on the caller that started it, detached from every client: it
// must not use any request's context (the leader's client may leave while
// others wait), and it must be bounded in time (backend calls are), since
// waiters wait for it. ok is false when the load yielded nothing (it
// panicked).
func (c *dedupCache) load(key string, fn loadFunc) (value interface{}, ok bool) {
	now := time.Now().UnixNano()
	c.mu.Lock()
	if e, hit := c.entries[key]; hit && now < e.expires {
		c.mu.Unlock()
		return e.value, true
	}
	if f, running := c.flights[key]; running {
		c.mu.Unlock()
		// A plain receive, not a select on the waiter's context too: Yaegi
		// v0.16.1 shares a select's case list between goroutines (a data
		// race). The leader's load is bounded by backend.timeout.
		<-f.done
		return f.value, f.value != nil
	}
	f := &flight{done: make(chan struct{})}
	c.flights[key] = f
	c.mu.Unlock()

	c.lead(key, f, fn)
	return f.value, f.value != nil
}

// lead runs the load and publishes it. The deferred cleanup runs even if
// fn panics, so waiters are never stranded.
func (c *dedupCache) lead(key string, f *flight, fn loadFunc) {
	var ttl time.Duration
	defer func() {
		c.mu.Lock()
		if ttl > 0 {
			c.storeLocked(key, f.value, time.Now().Add(ttl).UnixNano())
		}
		delete(c.flights, key)
		c.mu.Unlock()
		close(f.done)
	}()
	f.value, ttl = fn()
}

// storeLocked adds an entry, making room first when the cache is full:
// expired entries go, then arbitrary ones (map order), down to 90%.
func (c *dedupCache) storeLocked(key string, value interface{}, expires int64) {
	if _, exists := c.entries[key]; !exists && len(c.entries) >= c.maxEntries {
		c.evictLocked()
	}
	c.entries[key] = cacheEntry{value: value, expires: expires}
}

func (c *dedupCache) evictLocked() {
	now := time.Now().UnixNano()
	for k, e := range c.entries {
		if now >= e.expires {
			delete(c.entries, k)
		}
	}
	target := c.maxEntries - c.maxEntries/10 - 1
	for k := range c.entries {
		if len(c.entries) <= target {
			break
		}
		delete(c.entries, k)
	}
}

// size reports the number of entries, for tests and benchmarks.
func (c *dedupCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
