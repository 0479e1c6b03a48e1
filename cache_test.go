package authlayer

import (
	"context"
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
			v, _ := c.load(context.Background(), "k", func() (interface{}, time.Duration) {
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

func TestDedupCacheWaiterLeavesWithItsContext(t *testing.T) {
	c := newDedupCache(10)
	release := make(chan struct{})
	leaderDone := make(chan interface{})
	go func() {
		v, _ := c.load(context.Background(), "k", func() (interface{}, time.Duration) {
			<-release
			return "v", time.Minute
		})
		leaderDone <- v
	}()
	waitForFlight(t, c, "k")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := c.load(ctx, "k", nil); ok {
		t.Error("a waiter whose context ended must get ok=false")
	}
	close(release)
	if v := <-leaderDone; v != "v" {
		t.Errorf("leader got %v", v)
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
	c.load(context.Background(), "transient", load(0))
	c.load(context.Background(), "transient", load(0))
	if calls != 2 {
		t.Errorf("an answer with ttl 0 was cached: %d loads, want 2", calls)
	}
	c.load(context.Background(), "short", load(20*time.Millisecond))
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
		c.load(context.Background(), key, func() (interface{}, time.Duration) { return i, time.Hour })
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
