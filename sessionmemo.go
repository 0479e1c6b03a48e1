package authlayer

import (
	"net/http"
	"sync"
	"time"

	"github.com/authlayer/authlayer/internal/csrf"
)

// sessionMemo answers the most common request, a browser whose cookies
// have not changed since its last request, with one map look-up: the key
// is the request's whole Cookie header, the value the session that header
// was found to carry, until the validation behind it expires.
//
// Why: under Yaegi every interpreted call and allocation counts; parsing
// the cookies, checking the name is not sent twice and hashing the token
// cost more than everything else on a cached request. The memo keeps the
// decisions they lead to. It is exact, not a shortcut around a check:
//
//   - the key is the whole header, so another token, another guest cookie
//     or a duplicate cookie is another key, decided by the full path once;
//   - only settled sessions are stored (a valid user or guest, nothing to
//     set, nothing refreshed), with the expiry of the validation cache
//     entry they came from: revocation is seen within cache.ttl as before,
//     never past the token's exp;
//   - entries are immutable and shared; a request that must add to its
//     result (a CSRF cookie) copies it first.
//
// It is shared by the instances with the same backend scope and cookie
// names (state.go), bounded in entries and in key size, and emptied when
// full.
//
// A map behind an RWMutex rather than a sync.Map: under Yaegi, Load's
// interface{} key and results cost more allocations than the lock's two
// calls.
type sessionMemo struct {
	mu      sync.RWMutex
	entries map[string]*authResult // Cookie header → session, never modified; its until set
	max     int
}

// maxMemoCookieBytes keeps hostile or unusual Cookie headers out of the
// memo (a token is a few hundred bytes).
const maxMemoCookieBytes = 2048

func newSessionMemo(size int) *sessionMemo {
	return &sessionMemo{max: size, entries: map[string]*authResult{}}
}

// memoSession returns the remembered session for a request's Cookie
// header, or nil. A plain function on every request's path (see
// plugin.go).
func memoSession(sm *sessionMemo, header http.Header) *authResult {
	h := header["Cookie"]
	if len(h) != 1 {
		return nil
	}
	sm.mu.RLock()
	res := sm.entries[h[0]]
	sm.mu.RUnlock()
	if res == nil || time.Until(res.until) <= 0 { // one call, where Now().UnixNano() is two
		return nil
	}
	return res
}

// memoRemember stores res for req's Cookie header when it is a settled
// session whose validation is cached until expires. With CSRF on, it
// notes whether the header's CSRF cookie is valid for this session (then
// a safe request needs no CSRF work).
func memoRemember(m *middleware, req *http.Request, res *authResult, expires int64) {
	h := req.Header["Cookie"]
	if len(h) != 1 || len(h[0]) > maxMemoCookieBytes || !settledSession(res) || expires == 0 {
		return
	}
	if expires = memoUntil(m.s, res, expires); expires <= time.Now().UnixNano() {
		return
	}
	e := *res // the memo's own copy: entries are shared and never modified
	e.until = time.Unix(0, expires)
	if m.csrf != nil {
		e.csrfOK = csrf.Issue(m.csrf, req, csrfBinding(res)) == ""
	}
	sm := m.memo
	sm.mu.Lock()
	// Checked under the memo's lock: a logout marks first, then clears the
	// memos under this lock (forgetEverywhere), so a session either is
	// stored before and cleared, or sees the mark and is not stored.
	if loggedOut(res.token) {
		sm.mu.Unlock()
		return
	}
	if len(sm.entries) >= sm.max {
		sm.entries = map[string]*authResult{} // emptied when full
	}
	sm.entries[h[0]] = &e
	sm.mu.Unlock()
}

// memoForget drops every remembered session holding one of tokens
// (logout). A scan: logouts are rare, and the memo is bounded.
func memoForget(sm *sessionMemo, tokens []string) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	for k, e := range sm.entries {
		for _, t := range tokens {
			if t != "" && t == e.token {
				delete(sm.entries, k)
				break
			}
		}
	}
}

// settledSession is a result the next request with the same cookies gets
// as is: an identity, nothing to set, refresh or refuse.
func settledSession(res *authResult) bool {
	return res.id != nil && len(res.setCookies) == 0 && res.refreshed == "" &&
		!res.transient && !res.loggedOut && res.limited == nil
}
