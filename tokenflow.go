package authlayer

import (
	"net/http"
	"time"

	"github.com/authlayer/authlayer/internal/cache"
	"github.com/authlayer/authlayer/internal/ratelimit"
)

// The token flow of one request: the user cookie is validated; an invalid
// one is refreshed; without a user session the guest cookie is validated,
// or a guest token is minted. Validations and refreshes go through the
// shared caches (internal/cache), so concurrent requests with one token
// make one backend call.

// authenticate runs the token cascade for req. The common case, the same
// cookies as a recent request whose session is settled, is one look-up in
// the session memo; next, a user cookie whose validation is cached;
// everything else goes to the cascade (authenticateMiss). Settled sessions
// found on the way are remembered for the next request.
//
// known is what ServeHTTP already found in the memo for this request: a
// session, memoEmpty (nothing), or nil (not looked): the memo is looked up
// once per request.
func authenticate(m *middleware, req *http.Request, route *routeMatch, known *authResult) *authResult {
	if known == memoEmpty {
		return authenticateMiss(m, req, route)
	}
	if known != nil {
		return known
	}
	if res := memoSession(m.memo, req.Header); res != nil {
		return res
	}
	return authenticateMiss(m, req, route)
}

// authenticateMiss is authenticate once the memo had nothing: the cookies
// are read once, a user cookie whose validation is cached and settled
// answers at once, anything else runs the cascade (flowSession).
//
// Kept small for Yaegi (plugin.go): the cascade's rare branches are in
// their own functions, and what the flow learns on the way (the cache key
// that just missed, the cached answer's expiry) is carried in the flow
// instead of being looked up again.
func authenticateMiss(m *middleware, req *http.Request, route *routeMatch) *authResult {
	f := &flow{m: m, s: m.s, state: m.state, req: req, route: route}
	carried := cookiesRead(m.cookies, req)
	if res := cachedUserSession(f, carried); res != nil {
		return res
	}
	res := flowSession(f, carried)
	if (f.expires != 0 || f.expiresToken != res.token) && settledSession(res) {
		rememberSettled(f, res) // not when the flow knows res's validation is not cached
	}
	return res
}

// cachedUserSession is the session of a user cookie whose validation is
// cached, when nothing is left to do for it (no proactive refresh due, no
// expiry hint to set); nil otherwise. A miss is noted in the flow, so
// flowValidate does not look the same key up again.
func cachedUserSession(f *flow, carried carriedCookies) *authResult {
	if carried.user == "" {
		return nil
	}
	key := cache.Key(carried.user)
	v, expires, ok := cache.Lookup(f.state.validations, key)
	if !ok {
		f.missed = key // one field per statement (Yaegi)
		f.missedToken = carried.user
		return nil
	}
	return cachedSettled(f, key, carried.user, v.(validation).id, expires)
}

// cachedSettled is cachedUserSession's answer for a cached validation.
func cachedSettled(f *flow, key, token string, id *identity, expires int64) *authResult {
	if id == nil || loggedOutKey(key) || refreshDue(f.s, id) || f.s.expiryHint {
		return nil
	}
	res := &authResult{id: id, token: token, loggedIn: acceptsAsUser(f.s, id.tokenType)}
	memoRemember(f.m, f.req, res, expires)
	return res
}

// rememberSettled remembers a settled session (sessionmemo.go) until its
// validation's cache entry expires: the expiry the flow saw when it
// cached or read that validation, else the cache's.
func rememberSettled(f *flow, res *authResult) {
	if f.expiresToken == res.token {
		if f.expires != 0 { // 0: not cached (cache.ttl "0s")
			memoRemember(f.m, f.req, res, f.expires)
		}
		return
	}
	if _, expires, ok := cache.Lookup(f.state.validations, cache.Key(res.token)); ok {
		memoRemember(f.m, f.req, res, expires)
	}
}

// flow is one request on the slow path: every backend call it makes (or
// waits for) shares one deadline, backend.timeout from the first that
// needs it (flowDeadline), and is charged to its client (flowClient).
// Both are computed on first use: a token verified locally needs neither.
type flow struct {
	m *middleware
	// s and state are m.s and m.state, read through one field: under
	// Yaegi each step of f.s.x is a frame slot, and a slot of the
	// plugin's own type costs a sync.Map look-up besides its allocation.
	s        *settings
	state    *sharedState
	req      *http.Request
	route    *routeMatch
	deadline time.Time
	client   string // rate-limit and call-slot key
	// missed is the cache key of missedToken's validation (the user
	// cookie), when cachedUserSession just found no entry for it.
	missed, missedToken string
	// expires (unix nanoseconds) is when the cache entry of
	// expiresToken's validation expires, as this flow stored or read it;
	// 0 when the flow did not cache it.
	expires      int64
	expiresToken string
}

// flowDeadline is the flow's deadline, set by the first call that needs it.
func flowDeadline(f *flow) time.Time {
	if f.deadline.IsZero() {
		f.deadline = requestDeadline(f.m, f.req)
	}
	return f.deadline
}

// flowClient is the flow's client key, computed by the first call that
// needs it.
func flowClient(f *flow) string {
	if f.client == "" && f.req != nil {
		f.client = ratelimit.ClientKey(f.state.limiter, f.req)
	}
	return f.client
}

// requestDeadline is backend.timeout from now, or the request context's
// deadline when that comes first: an endpoint request (endpoints.go) sets
// one at its start, so its token flow and its own backend call share one
// budget.
func requestDeadline(m *middleware, req *http.Request) time.Time {
	deadline := time.Now().Add(m.s.backend.timeout)
	if d, ok := req.Context().Deadline(); ok && d.Before(deadline) {
		return d
	}
	return deadline
}

// flowSession is the cascade: user cookie, then refresh, then guest.
// Each outcome has its own function, so the common one (a valid user
// token) allocates only its own frame under Yaegi.
func flowSession(f *flow, carried carriedCookies) *authResult {
	if carried.user == "" {
		return flowWithoutUser(f, carried)
	}
	v, limited := flowValidate(f, carried.user, true)
	if v.state == stateValid && limited == nil {
		return flowValidUser(f, carried, v.id)
	}
	return flowUserNotValid(f, carried, v, limited)
}

// flowWithoutUser: no user cookie.
func flowWithoutUser(f *flow, carried carriedCookies) *authResult {
	if carried.refresh != "" {
		// The access cookie is gone (expired in the browser) but the
		// refresh cookie is not: refresh rather than log the user out.
		return flowRefreshSession(f, carried, carried.refresh)
	}
	return flowGuestSession(f, carried)
}

// flowValidUser is a user cookie that validated. The audit record and the
// proactive refresh are behind their options' own checks, so with them
// off (the defaults) neither's frame is allocated.
func flowValidUser(f *flow, carried carriedCookies, id *identity) *authResult {
	if f.m.audit != nil {
		recordAuthSuccess(f, carried.user, id)
	}
	res := userSession(f.s, carried.user, id)
	if f.s.proactiveWindow > 0 && res.loggedIn && refreshDue(f.s, id) {
		return flowProactiveRefresh(f, carried, res)
	}
	if !f.s.expiryHint {
		return res // withExpiryHint's first check, saving its frame
	}
	return withExpiryHint(f.s, carried, res)
}

func recordAuthSuccess(f *flow, token string, id *identity) {
	record(f.m, f.req, eventAuthSuccess, auditEntry{who: id, token: token, success: true})
}

// flowUserNotValid is a user cookie refused (over budget, unavailable
// backend, or invalid: then refreshed).
func flowUserNotValid(f *flow, carried carriedCookies, v validation, limited *ratelimit.Decision) *authResult {
	if limited != nil {
		return &authResult{limited: limited}
	}
	if v.state == stateTransient {
		record(f.m, f.req, eventError, auditEntry{token: carried.user, reason: "backend-unavailable"})
		return &authResult{transient: true}
	}
	record(f.m, f.req, eventAuthFail, auditEntry{token: carried.user, reason: firstNonEmpty(v.reason, "invalid-token")})
	return flowRefreshSession(f, carried, firstNonEmpty(carried.refresh, carried.user))
}

func userSession(s *settings, token string, id *identity) *authResult {
	return &authResult{id: id, token: token, loggedIn: acceptsAsUser(s, id.tokenType)}
}

// acceptsAsUser reports whether a token of this type is a logged-in user:
// one of routes.allowedTokenTypes, else any type but "guest" and the empty
// type (an answer without the configured type field).
func acceptsAsUser(s *settings, tokenType string) bool {
	if len(s.allowedTokenTypes) > 0 {
		return s.allowedTokenTypes[tokenType]
	}
	return tokenType != "guest" && tokenType != ""
}

// flowValidate answers from the cache, from local verification
// (jwtflow.go), or makes (or joins) one backend call. With charged, a call
// this client starts spends its unknown-token budget, unless the token
// validated recently (a known user whose entry expired); waiting on
// another's call is free (a local verification spends it only when it
// refuses the token). limited is the refusal when over budget.
//
// A logged-out token (revocation.go) is invalid before anything else is
// asked.
func flowValidate(f *flow, token string, charged bool) (validation, *ratelimit.Decision) {
	key := f.missed
	if token != f.missedToken {
		key = cache.Key(token)
	}
	if loggedOutKey(key) {
		return validation{state: stateInvalid, reason: "logged-out"}, nil
	}
	if n := f.state.cluster; n != nil {
		return flowValidateClustered(f, n, key, token, charged)
	}
	// flowValidateHere's body, inlined: the common path pays no extra
	// interpreted call.
	if j := f.s.jwt; j != nil {
		return flowValidateJWT(f, j, key, token, charged)
	}
	return flowValidateBackend(f, key, token, charged, nil)
}

// flowValidateHere validates token locally or with the backend.
func flowValidateHere(f *flow, key, token string, charged bool) (validation, *ratelimit.Decision) {
	if j := f.s.jwt; j != nil {
		return flowValidateJWT(f, j, key, token, charged)
	}
	return flowValidateBackend(f, key, token, charged, nil)
}

// flowValidateClustered is flowValidate in cluster mode: a token logged
// out on another replica is refused, and a token that validates is
// indexed so a later logout elsewhere reaches this replica's copies
// (clusterlogout.go).
func flowValidateClustered(f *flow, n *clusterNode, key, token string, charged bool) (validation, *ratelimit.Decision) {
	name := clusterName(n, "out", token)
	if clusterLoggedOut(n, name) {
		return validation{state: stateInvalid, reason: "logged-out"}, nil
	}
	v, limited := flowValidateHere(f, key, token, charged)
	if v.state == stateValid && clusterIndex(n, name, token) {
		return validation{state: stateInvalid, reason: "logged-out"}, nil
	}
	return v, limited
}

// flowValidateBackend validates token with the backend; with local (a
// token verified here, jwt.mode revalidate) the backend only confirms it.
func flowValidateBackend(f *flow, key, token string, charged bool, local *identity) (validation, *ratelimit.Decision) {
	var refused *ratelimit.Decision
	var charge cache.ChargeFunc
	if charged && f.state.limiter != nil {
		charge = func(stale interface{}) bool {
			if recentlyValid(stale) {
				return true
			}
			refused = spendBudget(f.m, ratelimit.BudgetUnknownTokens, flowClient(f))
			return refused == nil
		}
	}
	b, client, s, n := f.state.backend, flowClient(f), f.s, f.state.cluster
	v, how := cache.Load(f.state.validations, key, flowDeadline(f), charge, func() (interface{}, time.Duration, bool) {
		answer, shared := validateShared(n, b, client, token)
		if local != nil {
			// Three results named first: Yaegi v0.16.1 loses them when a
			// closure returns another call's results directly.
			confirmed, ttl, weak := confirmedValidation(s, answer, local)
			if shared > 0 && shared < ttl {
				ttl = shared
			}
			return unlessLoggedOut(key, confirmed), ttl, weak
		}
		answer = unlessLoggedOut(key, answer)
		ttl := validationTTL(s, answer)
		if shared > 0 && shared < ttl {
			ttl = shared
		}
		if n != nil && shared == 0 {
			shareValidation(n, token, answer, ttl)
		}
		return answer, ttl, weakValidation(s, answer)
	})
	switch how {
	case cache.Refused:
		record(f.m, f.req, eventRateLimitExceeded, auditEntry{reason: "unknown-tokens", status: http.StatusTooManyRequests})
		return validation{}, refused
	case cache.Failed:
		if local != nil {
			return validation{state: stateValid, id: local}, nil // the backend could not confirm in time: the local verdict stands
		}
		return validation{state: stateTransient}, nil
	}
	return v.(validation), nil
}

// validateShared is the backend's answer about token: in cluster mode
// another replica's, when it has one (shared is then how long it still
// counts), else a call of this replica's own.
func validateShared(n *clusterNode, b *backendClient, client, token string) (answer validation, shared time.Duration) {
	if n != nil {
		v, ttl, ok, loggedOut := sharedValidation(n, token)
		if ok || loggedOut {
			return v, ttl // a logged-out answer is invalid: cached for cache.ttl, never shared
		}
	}
	ctx, cancel := backendContext(b)
	answer = backendValidate(b, ctx, client, token)
	cancel()
	return answer, 0
}

// weakValidation is an answer anyone can cause cheaply (internal/cache): a
// refusal, or a guest's session (a cookie-less visit mints one). Only
// users' sessions are strong, so no flood of guests or junk tokens
// displaces them.
func weakValidation(s *settings, v validation) bool {
	return v.state != stateValid || v.id == nil || !acceptsAsUser(s, v.id.tokenType)
}

// unlessLoggedOut turns a valid answer about a token logged out while it
// was being checked into the logged-out refusal, before it is cached.
func unlessLoggedOut(key string, v validation) validation {
	if v.state == stateValid && loggedOutKey(key) {
		return validation{state: stateInvalid, reason: "logged-out"}
	}
	return v
}

func recentlyValid(stale interface{}) bool {
	v, ok := stale.(validation)
	return ok && v.state == stateValid
}

// validationTTL caches definite answers for cache.ttl, never beyond the
// token's expiry; transient answers are not cached.
func validationTTL(s *settings, v validation) time.Duration {
	if v.state == stateTransient {
		return 0
	}
	ttl := s.cacheTTL
	if v.id != nil && !v.id.expiresAt.IsZero() {
		if left := time.Until(v.id.expiresAt); left < ttl {
			ttl = left
		}
	}
	if ttl < 0 {
		return 0
	}
	return ttl
}

func appendCookie(list []string, cookie string) []string {
	if cookie == "" {
		return list
	}
	return append(list, cookie)
}
