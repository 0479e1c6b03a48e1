package authlayer

import "time"

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

// refreshDue reports whether id's token is within the proactive window.
func refreshDue(s *settings, id *identity) bool {
	return s.proactiveWindow > 0 && id != nil && !id.expiresAt.IsZero() && time.Until(id.expiresAt) < s.proactiveWindow
}

// flowProactiveRefresh refreshes the valid user session res early.
func flowProactiveRefresh(f *flow, carried carriedCookies, res *authResult) *authResult {
	credential := firstNonEmpty(carried.refresh, carried.user)
	out, limited := flowRefresh(f, credential)
	if limited != nil {
		return withExpiryHint(f.m.s, carried, res) // over the refresh budget: the token is still valid
	}
	switch out.kind {
	case refreshDone:
		record(f.m, f.req, eventAuthRefresh, out.session.id, out.accessToken, out.session.state == stateValid, "proactive", 0)
		next := refreshedSession(f.m.s, out)
		if next.transient {
			// The new token could not be validated yet: keep serving the
			// valid one, and hand the browser the new cookies.
			kept := *res
			kept.setCookies = next.setCookies
			return &kept
		}
		return next
	case refreshReuse:
		record(f.m, f.req, eventAuthReuse, nil, credential, false, "refresh-token-reuse", 0)
		return &authResult{loggedOut: true, setCookies: cookiesClearing(&f.m.s.cookies, carried, true, true, true)}
	}
	record(f.m, f.req, eventAuthRefreshFail, nil, credential, false, "proactive-kept", 0)
	return withExpiryHint(f.m.s, carried, res)
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
	if due := res.id.expiresAt.Add(-s.proactiveWindow).UnixNano(); due < expires {
		return due
	}
	return expires
}
