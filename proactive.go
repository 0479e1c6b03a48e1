package authlayer

import (
	"log"
	"strings"
	"sync"
	"time"

	"github.com/authlayer/authlayer/internal/cache"
	"github.com/authlayer/authlayer/internal/jsonpath"
	"github.com/authlayer/authlayer/internal/jwt"
)

// refresh.proactiveWindow: a user's token whose exp is that close is
// refreshed on the request that notices, deduplicated and remembered like
// any refresh (refreshflow.go), so the user never meets an expired token
// in the middle of a form. The token is still valid, so only a refresh
// token reuse (a stolen credential) ends the session; any other failure
// keeps the valid token until the next request tries again.
//
// And cookies.expiryHint: a cookie scripts can read holding only the
// access token's exp, kept in step with the token on every slow-path
// request.
//
// The window never exceeds half a token's lifetime: a window at or above
// the lifetime would make every request refresh, and each new token would
// be due the moment it is issued. A token is therefore refreshed halfway
// through its life at the earliest, and the first refresh that shows the
// window too wide logs it once, naming the option. The lifetime is exp
// minus the token's iat claim (read without checking the signature: it
// only ever delays a refresh of a token validated anyway), or, for a
// token without one, exp minus the time authlayer's own proactive refresh
// handed it out (remembered, bounded, only while the window is too wide).

// refreshDue reports whether id's token is within the proactive window.
func refreshDue(s *settings, id *identity) bool {
	if s.proactiveWindow <= 0 || id == nil || id.expiresAt.IsZero() {
		return false
	}
	left := time.Until(id.expiresAt)
	return left < s.proactiveWindow && left < proactiveWindowFor(s, id, left)
}

// proactiveWindowFor is the window for id's token, left before its exp:
// refresh.proactiveWindow, at most half the token's lifetime when that is
// known. The lifetime is looked for only when it could matter (less than
// twice the window left), never for a token far from its exp.
func proactiveWindowFor(s *settings, id *identity, left time.Duration) time.Duration {
	w := s.proactiveWindow
	if left >= 2*w {
		return w
	}
	if life := tokenLifetime(id); life > 0 && life < 2*w {
		return life / 2
	}
	return w
}

// tokenLifetime is id's token's whole lifetime, 0 when unknown.
func tokenLifetime(id *identity) time.Duration {
	token := id.token
	if token == "" {
		return 0
	}
	if iat, ok := tokenIssuedAt(token, id.expiresAt); ok {
		return id.expiresAt.Sub(iat)
	}
	return issuedLifetime(token, id.expiresAt)
}

// tokenIssuedAt reads a JWT's iat claim; ok only for a plausible one:
// before exp and not ahead of the clock by more than a minute.
func tokenIssuedAt(token string, exp time.Time) (time.Time, bool) {
	first := strings.IndexByte(token, '.')
	last := strings.LastIndexByte(token, '.')
	if first < 0 || last <= first {
		return time.Time{}, false
	}
	raw, ok := jwt.DecodeSegment(token[first+1 : last])
	if !ok {
		return time.Time{}, false
	}
	claims, _ := jsonpath.Decode(raw).(map[string]interface{})
	iat, ok := jwt.ClaimTime(claims, "iat")
	if !ok || iat.IsZero() || !iat.Before(exp) || iat.After(time.Now().Add(time.Minute)) {
		return time.Time{}, false
	}
	return iat, true
}

// Tokens without iat that a proactive refresh handed out while the window
// is too wide for them: when, so their lifetime is known. Keyed by the
// token's digest; only refreshed tokens enter (never a client's junk), at
// most maxIssuedMemo, each until its exp.
const maxIssuedMemo = 4096

type issuedEntry struct {
	at, exp time.Time
}

var (
	issuedMu   sync.Mutex // protects issuedMemo
	issuedMemo = map[string]issuedEntry{}
)

func issuedLifetime(token string, exp time.Time) time.Duration {
	key := cache.Key(token)
	issuedMu.Lock()
	e, ok := issuedMemo[key]
	issuedMu.Unlock()
	if !ok || !e.exp.Equal(exp) {
		return 0
	}
	return exp.Sub(e.at)
}

// rememberIssued notes that token, expiring at exp, was handed out at
// now; a full memo first drops its expired entries, and skips the note
// when none is (that token may then be refreshed once early).
func rememberIssued(token string, exp, now time.Time) {
	key := cache.Key(token)
	issuedMu.Lock()
	defer issuedMu.Unlock()
	if _, known := issuedMemo[key]; known {
		return // the first note is the closest to the issue
	}
	if len(issuedMemo) >= maxIssuedMemo {
		for k, e := range issuedMemo {
			if !e.exp.After(now) {
				delete(issuedMemo, k)
			}
		}
		if len(issuedMemo) >= maxIssuedMemo {
			return
		}
	}
	issuedMemo[key] = issuedEntry{at: now, exp: exp}
}

// noteProactiveRefresh looks at the token a proactive refresh just handed
// out: when the window is more than half its lifetime, a token without
// iat is remembered (so it is not refreshed again at once) and the
// misconfiguration is logged, once per middleware and window.
func noteProactiveRefresh(name string, s *settings, out refreshOutcome) {
	id := out.session.id
	if out.session.state != stateValid || id == nil || id.expiresAt.IsZero() {
		return
	}
	now := time.Now()
	life := id.expiresAt.Sub(now)
	if iat, ok := tokenIssuedAt(out.accessToken, id.expiresAt); ok {
		life = id.expiresAt.Sub(iat)
	} else if life < 2*s.proactiveWindow {
		rememberIssued(out.accessToken, id.expiresAt, now)
	}
	if life > 0 && life < 2*s.proactiveWindow {
		warnProactiveWindow(name, s.proactiveWindow, life)
	}
}

// proactiveWarned holds the middleware names (and windows) already warned.
var proactiveWarned sync.Map

func warnProactiveWindow(name string, window, life time.Duration) {
	if _, done := proactiveWarned.LoadOrStore(name+"\x00"+window.String(), true); done {
		return
	}
	life = life.Round(time.Second)
	what := "is more than half the lifetime"
	if window >= life {
		what = "covers the whole lifetime"
	}
	log.Printf("authlayer: %s: refresh.proactiveWindow (%s) %s of the tokens the backend issues (%s): a token is refreshed halfway through its life instead, never on every request; set refresh.proactiveWindow to at most %s",
		name, window.String(), what, life.String(), (life / 2).String())
}

// flowProactiveRefresh refreshes the valid user session res early.
func flowProactiveRefresh(f *flow, carried carriedCookies, res *authResult) *authResult {
	credential := firstNonEmpty(carried.refresh, carried.user)
	out, limited := flowRefresh(f, credential)
	if limited != nil {
		return withExpiryHint(f.s, carried, res) // over the refresh budget: the token is still valid
	}
	switch out.kind {
	case refreshDone:
		record(f.m, f.req, eventAuthRefresh, auditEntry{who: out.session.id, token: out.accessToken, success: out.session.state == stateValid, reason: "proactive"})
		noteProactiveRefresh(f.m.name, f.s, out)
		next := refreshedSession(f.s, out)
		if next.transient {
			// The new token could not be validated yet: keep serving the
			// valid one, and hand the browser the new cookies.
			kept := *res
			kept.setCookies = next.setCookies
			return &kept
		}
		return next
	case refreshReuse:
		record(f.m, f.req, eventAuthReuse, auditEntry{token: credential, reason: "refresh-token-reuse"})
		return &authResult{loggedOut: true, setCookies: cookiesClearing(&f.s.cookies, carried, true, true, true)}
	}
	record(f.m, f.req, eventAuthRefreshFail, auditEntry{token: credential, reason: "proactive-kept"})
	return withExpiryHint(f.s, carried, res)
}

// withExpiryHint adds the expiry hint cookie to a user session whose
// browser holds none, or an outdated one.
func withExpiryHint(s *settings, carried carriedCookies, res *authResult) *authResult {
	if s.cookies.hint == "" || !res.loggedIn || res.id == nil || res.id.expiresAt.IsZero() || carried.hint == expiryHintValue(res.id) {
		return res
	}
	cp := *res
	cp.setCookies = appendCookie(append([]string(nil), res.setCookies...), expiryHintCookie(&s.cookies, res.id))
	return &cp
}

// memoUntil caps a remembered session's life at the start of its
// proactive window, so the request that should refresh takes the slow
// path. expires is in Unix nanoseconds.
func memoUntil(s *settings, res *authResult, expires int64) int64 {
	if s.proactiveWindow <= 0 || res.id == nil || res.id.expiresAt.IsZero() {
		return expires
	}
	w := proactiveWindowFor(s, res.id, time.Until(res.id.expiresAt))
	if due := res.id.expiresAt.Add(-w).UnixNano(); due < expires {
		return due
	}
	return expires
}
