package authlayer

import (
	"sync"
)

// routeMemo remembers the rule decision per raw request path, so the
// common case is one map look-up instead of canonicalising and matching.
// Decisions depend on the path alone, so they never go stale; the memo is
// emptied when full, so a flood of distinct paths costs at most
// maxMemoPaths entries.
type routeMemo struct {
	table *routeTable
	mu    sync.RWMutex // protects paths
	paths map[string]*routeMatch
}

const maxMemoPaths = 4096

// maxMemoPathBytes keeps long (often hostile) paths out of the memo.
const maxMemoPathBytes = 256

func newRouteMemo(table *routeTable) *routeMemo {
	return &routeMemo{table: table, paths: map[string]*routeMatch{}}
}

// routeFor returns the decision for the raw path of a request.
func routeFor(memo *routeMemo, rawPath string) *routeMatch {
	memo.mu.RLock()
	r, ok := memo.paths[rawPath]
	memo.mu.RUnlock()
	if ok {
		return r
	}
	return routeMiss(memo, rawPath)
}

func routeMiss(memo *routeMemo, rawPath string) *routeMatch {
	m := memo.table.match(canonicalPath(rawPath))
	r := &m
	if len(rawPath) > maxMemoPathBytes {
		return r
	}
	memo.mu.Lock()
	if len(memo.paths) >= maxMemoPaths {
		memo.paths = map[string]*routeMatch{}
	}
	memo.paths[rawPath] = r
	memo.mu.Unlock()
	return r
}
