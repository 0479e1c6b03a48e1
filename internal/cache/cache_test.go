package cache

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDedupOneLoadForConcurrentMisses holds the first load until every
// caller has started, then checks exactly one load ran and all callers got
// its value. Callers arriving after the load finish hit the cache, so the
// count is exact whatever the scheduling.
func TestDedupOneLoadForConcurrentMisses(t *testing.T) {
	c := New(100)
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
			v, _ := Load(c, "k", time.Time{}, nil, func() (interface{}, time.Duration, bool) {
				loads.Add(1)
				<-release
				return "value", time.Minute, false
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

// TestDedupLeaderPanicReleasesWaiters: a load that panics must not
// strand the requests waiting on it, nor crash the process (it runs on a
// goroutine of its own).
func TestDedupLeaderPanicReleasesWaiters(t *testing.T) {
	c := New(10)
	release := make(chan struct{})
	leader := make(chan Outcome, 1)
	go func() {
		_, how := Load(c, "k", time.Time{}, nil, func() (interface{}, time.Duration, bool) {
			<-release
			panic("backend client bug")
		})
		leader <- how
	}()
	waitForFlight(t, c, "k")
	waiter := make(chan Outcome, 1)
	go func() {
		_, how := Load(c, "k", time.Time{}, nil, func() (interface{}, time.Duration, bool) { return "own", 0, false })
		waiter <- how
	}()
	waitForWaiters(t, c, "k", 2)
	close(release)
	expectOutcome(t, leader, Failed)
	expectOutcome(t, waiter, Failed)
	if _, ok := getForTest(c, "k"); ok {
		t.Error("a panicked load was cached")
	}
}

// TestDedupWaitEndsAtDeadline: a caller waits for a slow load only
// until its own deadline; the load goes on and its answer is cached for
// the next caller.
func TestDedupWaitEndsAtDeadline(t *testing.T) {
	c := New(10)
	release := make(chan struct{})
	start := time.Now()
	v, how := Load(c, "k", start.Add(50*time.Millisecond), nil, func() (interface{}, time.Duration, bool) {
		<-release
		return "late", time.Minute, false
	})
	if how != Failed || v != nil {
		t.Fatalf("got %v, %d; want nil, Failed", v, how)
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Fatalf("waited %v past a 50ms deadline", waited)
	}
	close(release)
	for i := 0; i < 1000; i++ {
		if v, ok := getForTest(c, "k"); ok {
			if v != "late" {
				t.Fatalf("cached %v, want the load's answer", v)
			}
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the detached load's answer was never cached")
}

// TestDedupChargesOnlyTheCallerThatLoads: waiters and cache hits are
// free; the charge sees a recently expired strong entry; a refused charge
// loads nothing.
func TestDedupChargesOnlyTheCallerThatLoads(t *testing.T) {
	c := New(10)
	var charges atomic.Int64
	charge := func(stale interface{}) bool { charges.Add(1); return true }
	release := make(chan struct{})
	const callers = 50
	var done sync.WaitGroup
	done.Add(callers)
	go func() {
		Load(c, "k", time.Time{}, charge, func() (interface{}, time.Duration, bool) {
			<-release
			return "v", 20 * time.Millisecond, false
		})
	}()
	waitForFlight(t, c, "k")
	for i := 0; i < callers; i++ {
		go func() {
			defer done.Done()
			Load(c, "k", time.Time{}, charge, func() (interface{}, time.Duration, bool) { return "other", 0, false })
		}()
	}
	waitForWaiters(t, c, "k", callers+1)
	close(release)
	done.Wait()
	Load(c, "k", time.Time{}, charge, nil) // a hit
	if n := charges.Load(); n != 1 {
		t.Fatalf("charged %d times, want once (the caller that loaded)", n)
	}
	time.Sleep(30 * time.Millisecond) // the entry expires
	var stale interface{}
	_, how := Load(c, "k", time.Time{}, func(s interface{}) bool { stale = s; return false }, nil)
	if how != Refused || stale != "v" {
		t.Fatalf("after expiry: outcome %d, stale %v; want Refused and the expired value", how, stale)
	}
}

// TestDedupWeakEntriesNeverDisplaceStrongOnes: a flood of weak
// answers (junk tokens, failed refreshes) leaves every strong entry.
func TestDedupWeakEntriesNeverDisplaceStrongOnes(t *testing.T) {
	c := New(100)
	for i := 0; i < 50; i++ {
		Load(c, "user"+strconv.Itoa(i), time.Time{}, nil, func() (interface{}, time.Duration, bool) { return "valid", time.Hour, false })
	}
	for i := 0; i < 5000; i++ {
		Load(c, "junk"+strconv.Itoa(i), time.Time{}, nil, func() (interface{}, time.Duration, bool) { return "invalid", time.Hour, true })
	}
	for i := 0; i < 50; i++ {
		if v, ok := getForTest(c, "user"+strconv.Itoa(i)); !ok || v != "valid" {
			t.Fatalf("strong entry %d was displaced by the flood", i)
		}
	}
	if n := size(c); n > 200 {
		t.Errorf("cache holds %d entries, bound is 100 per kind", n)
	}
}

func expectOutcome(t *testing.T, ch chan Outcome, want Outcome) {
	t.Helper()
	select {
	case how := <-ch:
		if how != want {
			t.Errorf("outcome %d, want %d", int(how), int(want))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a caller was stranded")
	}
}

func waitForWaiters(t *testing.T, c *Dedup, key string, n int) {
	t.Helper()
	for i := 0; i < 2000; i++ {
		c.mu.Lock()
		f, ok := c.flights[key]
		got := 0
		if ok {
			got = len(f.waiters)
		}
		c.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("fewer than %d callers joined the flight", n)
}

func waitForFlight(t *testing.T, c *Dedup, key string) {
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

func TestDedupTTLAndUncachedAnswers(t *testing.T) {
	c := New(10)
	calls := 0
	load := func(ttl time.Duration) LoadFunc {
		return func() (interface{}, time.Duration, bool) { calls++; return calls, ttl, false }
	}
	Load(c, "transient", time.Time{}, nil, load(0))
	Load(c, "transient", time.Time{}, nil, load(0))
	if calls != 2 {
		t.Errorf("an answer with ttl 0 was cached: %d loads, want 2", calls)
	}
	Load(c, "short", time.Time{}, nil, load(20*time.Millisecond))
	if v, ok := getForTest(c, "short"); !ok || v != 3 {
		t.Errorf("fresh entry: got %v %v", v, ok)
	}
	time.Sleep(30 * time.Millisecond)
	if _, ok := getForTest(c, "short"); ok {
		t.Error("an expired entry was served")
	}
}

func TestDedupIsBounded(t *testing.T) {
	c := New(100)
	for i := 0; i < 10000; i++ {
		key := Key(time.Duration(i).String())
		Load(c, key, time.Time{}, nil, func() (interface{}, time.Duration, bool) { return i, time.Hour, i%2 == 0 })
	}
	if n := size(c); n > 200 {
		t.Errorf("cache holds %d entries, cap is 100 per kind", n)
	}
}

func TestKeyCoversWholeToken(t *testing.T) {
	a := "header.payload.signatureA"
	b := "header.payload.signatureB"
	if Key(a) == Key(b) {
		t.Error("tokens differing in the signature share a key")
	}
}

// getForTest is Lookup without the expiry.
func getForTest(c *Dedup, key string) (interface{}, bool) {
	v, _, ok := Lookup(c, key)
	return v, ok
}

// size reports the number of entries, for tests.
func size(c *Dedup) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries) + len(c.weak)
}
