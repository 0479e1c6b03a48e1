package slots

import (
	"testing"
	"time"
)

func TestSlotsWaitForARelease(t *testing.T) {
	s := New(2)
	if !Acquire(s, "a", time.Now()) || !Acquire(s, "b", time.Now()) {
		t.Fatal("free slots were refused")
	}
	got := make(chan bool, 1)
	go func() { got <- Acquire(s, "c", time.Now().Add(5*time.Second)) }()
	waitQueued(t, s, 1)
	Release(s, "a")
	if !<-got {
		t.Fatal("a waiter did not get the released slot")
	}
	if n := Busy(s); n != 2 {
		t.Fatalf("busy = %d, want 2", n)
	}
}

func TestSlotsGiveUpAtTheDeadline(t *testing.T) {
	s := New(1)
	Acquire(s, "a", time.Now())
	start := time.Now()
	if Acquire(s, "b", start.Add(30*time.Millisecond)) {
		t.Fatal("a full pool handed out a slot")
	}
	if waited := time.Since(start); waited < 25*time.Millisecond || waited > 3*time.Second {
		t.Fatalf("waited %v for a 30ms deadline", waited)
	}
	if Acquire(s, "b", time.Now().Add(-time.Second)) {
		t.Fatal("a past deadline got a slot")
	}
	Release(s, "a")
	if !Acquire(s, "b", time.Now()) {
		t.Fatal("an expired waiter kept a slot or a place in line")
	}
}

// TestSlotsFairShare: one client holds at most half of the slots; the
// rest stay free for others, and its own extra calls wait.
func TestSlotsFairShare(t *testing.T) {
	s := New(4)
	for i := 0; i < 2; i++ {
		if !Acquire(s, "greedy", time.Now()) {
			t.Fatal("a client's share was refused")
		}
	}
	if Acquire(s, "greedy", time.Now()) {
		t.Fatal("a client got more than half of the slots")
	}
	if !Acquire(s, "other", time.Now()) || !Acquire(s, "other2", time.Now()) {
		t.Fatal("another client was refused while slots were free")
	}
	got := make(chan bool, 2)
	go func() { got <- Acquire(s, "greedy", time.Now().Add(5*time.Second)) }()
	waitQueued(t, s, 1)
	go func() { got <- Acquire(s, "third", time.Now().Add(5*time.Second)) }()
	waitQueued(t, s, 2)
	Release(s, "other") // greedy is still at its share: the slot goes to "third"
	if !<-got {
		t.Fatal("the eligible waiter was not served")
	}
	s.mu.Lock()
	third, greedy := s.byClient["third"], s.byClient["greedy"]
	s.mu.Unlock()
	if third != 1 || greedy != 2 {
		t.Fatalf("slots: third %d, greedy %d; want 1 and 2", third, greedy)
	}
	Release(s, "greedy")
	if !<-got {
		t.Fatal("greedy's waiter was not served once under its share")
	}
}

func waitQueued(t *testing.T, s *Pool, n int) {
	t.Helper()
	for i := 0; i < 2000; i++ {
		s.mu.Lock()
		q := len(s.queue)
		s.mu.Unlock()
		if q >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("fewer than %d waiters queued", n)
}
