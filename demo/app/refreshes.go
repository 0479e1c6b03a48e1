package app

import (
	"sync"
	"time"
)

// refreshLog remembers, per user id, when authlayer last handed the app a
// refreshed token. It is bounded: past maxEntries an arbitrary entry is
// forgotten to make room.
type refreshLog struct {
	mu         sync.Mutex // protects last
	last       map[string]time.Time
	maxEntries int
}

func newRefreshLog(maxEntries int) *refreshLog {
	return &refreshLog{last: make(map[string]time.Time), maxEntries: maxEntries}
}

// record notes a refresh for userID at t.
func (l *refreshLog) record(userID string, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.last[userID]; !ok && len(l.last) >= l.maxEntries {
		for k := range l.last {
			delete(l.last, k)
			break
		}
	}
	l.last[userID] = t
}

// get returns the last refresh time of userID, if any.
func (l *refreshLog) get(userID string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.last[userID]
	return t, ok
}
