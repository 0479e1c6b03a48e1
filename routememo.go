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
	table          *routeTable
	protectUnclear bool         // routes.ambiguousPaths=protect: treat as protected instead of 400
	mu             sync.RWMutex // protects paths
	paths          map[string]*routeMatch
}

const maxMemoPaths = 4096

// maxMemoPathBytes keeps long (often hostile) paths out of the memo.
const maxMemoPathBytes = 256

// maxPathBytes is the longest path authlayer decides on; longer ones get
// 400.
const maxPathBytes = 4096

func newRouteMemo(table *routeTable, protectUnclear bool) *routeMemo {
	return &routeMemo{table: table, protectUnclear: protectUnclear, paths: map[string]*routeMatch{}}
}

// routeFor returns the decision for a request's path. decoded and raw are
// the URL's Path and RawPath; the memo key tells them apart ("\x00" never
// appears in an accepted decoded path).
func routeFor(memo *routeMemo, decoded, raw string) *routeMatch {
	key := decoded
	if raw != "" {
		key = "\x00" + raw
	}
	memo.mu.RLock()
	r, ok := memo.paths[key]
	memo.mu.RUnlock()
	if ok {
		return r
	}
	return routeMiss(memo, key, decoded, raw)
}

func routeMiss(memo *routeMemo, key, decoded, raw string) *routeMatch {
	r := decideRoute(memo, decoded, raw)
	if len(key) > maxMemoPathBytes {
		return r
	}
	memo.mu.Lock()
	if len(memo.paths) >= maxMemoPaths {
		memo.paths = map[string]*routeMatch{}
	}
	memo.paths[key] = r
	memo.mu.Unlock()
	return r
}

// decideRoute matches the canonical path, refusing ambiguous spellings or
// resolving them to the stricter rule.
func decideRoute(memo *routeMemo, decoded, raw string) *routeMatch {
	if len(decoded) > maxPathBytes {
		// Matching is linear in the path, and interpreted: a hostile
		// 100 KiB path would cost milliseconds. No app needs one.
		return &routeMatch{rejected: true}
	}
	canonical := canonicalPath(decoded)
	m := memo.table.match(canonical)
	m.path = canonical
	if ambiguousPath(decoded, raw) {
		if !memo.protectUnclear {
			m.rejected = true
		} else if !m.needsUser {
			m.kind, m.needsUser = kindProtected, true
		}
	}
	return &m
}
