package authlayer

import (
	"strings"
	"sync"
)

// routeMemo remembers the rule decision per raw request path, so the
// common case is one map look-up instead of canonicalising and matching.
// Decisions depend on the path alone, so they never go stale; the memo is
// emptied when full, so a flood of distinct paths costs at most
// maxMemoPaths entries.
type routeMemo struct {
	table          *routeTable
	protectUnclear bool                    // routes.ambiguousPaths=protect: treat as protected instead of 400
	endpoints      map[string]endpointKind // endpoints.*, by canonical path
	lookalikes     map[string]bool         // the endpoints' paths lower-cased, without a trailing slash
	mu             sync.RWMutex            // protects paths
	paths          map[string]*routeMatch
}

const maxMemoPaths = 4096

// maxMemoPathBytes keeps long (often hostile) paths out of the memo.
const maxMemoPathBytes = 256

// maxPathBytes is the longest path authlayer decides on; longer ones get
// 400.
const maxPathBytes = 4096

func newRouteMemo(table *routeTable, protectUnclear bool, endpoints map[string]endpointKind) *routeMemo {
	lookalikes := map[string]bool{}
	for p := range endpoints {
		lookalikes[lookalikeKey(p)] = true
	}
	return &routeMemo{table: table, protectUnclear: protectUnclear, endpoints: endpoints, lookalikes: lookalikes, paths: map[string]*routeMatch{}}
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
	r.gate = gateFor(r)
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

// decideRoute decides on every reading of the path (see canonical.go),
// refusing ambiguous spellings or resolving them to the stricter rule. It
// runs on a memo miss only.
func decideRoute(memo *routeMemo, decoded, raw string) *routeMatch {
	if len(decoded) > maxPathBytes {
		// Matching is linear in the path, and interpreted: a hostile
		// 100 KiB path would cost milliseconds. No app needs one.
		return &routeMatch{rejected: true}
	}
	literal := canonicalPath(decoded)
	m := matchRoute(memo.table, literal)
	m.path = literal
	unclear := ambiguousPath(decoded, raw)
	if strings.IndexByte(decoded, ';') >= 0 {
		unclear = matchParamReadings(memo.table, &m, decoded, raw) || unclear
	}
	if unclear {
		if strings.IndexByte(m.path, ';') < 0 {
			// The app may read it differently from every reading
			// above ("/hooks%2Fstripe"): record it as sent, which no
			// exempt path equals.
			m.path = sentPath(decoded, raw)
		}
		if !memo.protectUnclear {
			m.rejected = true
		} else if !m.needsUser {
			m.kind, m.needsUser = kindProtected, true
		}
		m.rejected = m.rejected || endpointLookalike(memo, decoded, m.path)
		return &m // an endpoint is only ever its exact, unambiguous path
	}
	m.endpoint = memo.endpoints[m.path]
	if m.endpoint == endpointNone && endpointLookalike(memo, decoded, m.path) {
		m.rejected = true
	}
	return &m
}

// endpointLookalike reports whether a path that is not exactly one of
// authlayer's endpoints is one in another spelling ("/AUTH/LOGIN",
// "/auth/login;x", "/auth/login/"): an app that reads it as its own login
// route would receive the credentials, so such a path is refused (400),
// never forwarded.
func endpointLookalike(memo *routeMemo, decoded, literal string) bool {
	if len(memo.lookalikes) == 0 {
		return false
	}
	return memo.lookalikes[lookalikeKey(literal)] ||
		memo.lookalikes[lookalikeKey(dropMatrixParams(literal))] ||
		memo.lookalikes[lookalikeKey(servletPath(decoded))]
}

func lookalikeKey(p string) string {
	return strings.ToLower(strings.TrimRight(p, "/"))
}

// matchParamReadings makes m, the decision for the literal reading of a
// path holding ";", at least as strict as the decisions for the servlet
// and names-only readings. It reports whether the path is ambiguous (a
// dot segment under some readings only).
func matchParamReadings(table *routeTable, m *routeMatch, decoded, raw string) bool {
	literal := m.path
	servlet := servletPath(decoded)
	names := dropMatrixParams(literal)
	*m = stricterMatch(*m, matchRoute(table, servlet))
	*m = stricterMatch(*m, matchRoute(table, names)) // keeps m.path
	if (servlet != literal || names != literal) && strings.IndexByte(literal, ';') < 0 {
		// The readings disagree although the literal one lost its ";"
		// ("/hooks/;x/../stripe" is /hooks/stripe to Go, /stripe to
		// Java): record the path as sent, which no exempt path equals.
		m.path = sentPath(decoded, raw)
	}
	return dotParamSegment(decoded)
}

// routeGate is what a remembered session needs to pass a route without
// the full decision (see ServeHTTP in plugin.go).
type routeGate int

const (
	gateFull routeGate = iota // rejected, excluded, auth-only or role: the full flow decides
	gateOpen                  // no rule or public: any session passes
	gateUser                  // protected: a logged-in user passes
)

func gateFor(r *routeMatch) routeGate {
	switch {
	case r.rejected || r.endpoint != endpointNone: // one expression: Yaegi v0.16.1 misreads a list in a tagless switch
		return gateFull
	case r.kind == kindNone || r.kind == kindPublic:
		return gateOpen
	case r.kind == kindProtected:
		return gateUser
	}
	return gateFull
}
