package authlayer

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDedupCacheOneLoadForConcurrentMisses holds the first load until every
// caller has started, then checks exactly one load ran and all callers got
// its value. Callers arriving after the load finish hit the cache, so the
// count is exact whatever the scheduling.
func TestDedupCacheOneLoadForConcurrentMisses(t *testing.T) {
	c := newDedupCache(100)
	var loads atomic.Int64
	release := make(chan struct{})
	const callers = 200
	var started, done sync.WaitGroup
	started.Add(callers)
	done.Add(callers)
	results := make([]interface{}, callers)
	for i := 0; i < callers; i++ {
		i := i
		go func() {
			defer done.Done()
			started.Done()
			v, _ := c.load("k", func() (interface{}, time.Duration) {
				loads.Add(1)
				<-release
				return "value", time.Minute
			})
			results[i] = v
		}()
	}
	started.Wait()
	close(release)
	done.Wait()
	if n := loads.Load(); n != 1 {
		t.Fatalf("loads = %d, want 1", n)
	}
	for i, v := range results {
		if v != "value" {
			t.Fatalf("caller %d got %v, want the leader's value", i, v)
		}
	}
}

// TestDedupCacheLeaderPanicReleasesWaiters: a load that panics must not
// strand the requests waiting on it.
func TestDedupCacheLeaderPanicReleasesWaiters(t *testing.T) {
	c := newDedupCache(10)
	release := make(chan struct{})
	go func() {
		defer func() { _ = recover() }()
		c.load("k", func() (interface{}, time.Duration) {
			<-release
			panic("backend client bug")
		})
	}()
	waitForFlight(t, c, "k")
	waiter := make(chan interface{})
	go func() {
		// If this caller arrives after the panic it leads a load of its own.
		v, _ := c.load("k", func() (interface{}, time.Duration) { return "own", 0 })
		waiter <- v
	}()
	time.Sleep(20 * time.Millisecond) // let the waiter join the flight
	close(release)
	select {
	case v := <-waiter:
		if v != nil && v != "own" {
			t.Errorf("waiter got %v", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiter was stranded by a panicked load")
	}
	if _, ok := cacheGet(c, "k"); ok {
		t.Error("a panicked load was cached")
	}
}

func waitForFlight(t *testing.T, c *dedupCache, key string) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		c.mu.Lock()
		_, ok := c.flights[key]
		c.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the flight never started")
}

func TestDedupCacheTTLAndUncachedAnswers(t *testing.T) {
	c := newDedupCache(10)
	calls := 0
	load := func(ttl time.Duration) loadFunc {
		return func() (interface{}, time.Duration) { calls++; return calls, ttl }
	}
	c.load("transient", load(0))
	c.load("transient", load(0))
	if calls != 2 {
		t.Errorf("an answer with ttl 0 was cached: %d loads, want 2", calls)
	}
	c.load("short", load(20*time.Millisecond))
	if v, ok := cacheGet(c, "short"); !ok || v != 3 {
		t.Errorf("fresh entry: got %v %v", v, ok)
	}
	time.Sleep(30 * time.Millisecond)
	if _, ok := cacheGet(c, "short"); ok {
		t.Error("an expired entry was served")
	}
}

func TestDedupCacheIsBounded(t *testing.T) {
	c := newDedupCache(100)
	for i := 0; i < 10000; i++ {
		key := cacheKey(time.Duration(i).String())
		c.load(key, func() (interface{}, time.Duration) { return i, time.Hour })
	}
	if n := c.size(); n > 100 {
		t.Errorf("cache holds %d entries, cap is 100", n)
	}
}

func TestCacheKeyCoversWholeToken(t *testing.T) {
	a := "header.payload.signatureA"
	b := "header.payload.signatureB"
	if cacheKey(a) == cacheKey(b) {
		t.Error("tokens differing in the signature share a key")
	}
}
