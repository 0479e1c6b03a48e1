package authlayer

import (
	"log"
	"net/http"
	"time"

	"github.com/authlayer/authlayer/internal/cache"
	"github.com/authlayer/authlayer/internal/ratelimit"
)

// Refresh in the token flow. One refresh runs per credential however many
// requests carry it (cache.Load), detached from every request so a client
// leaving cannot lose a rotated token. A finished refresh is remembered for
// refresh.graceWindow under the old credential: requests that still carry
// the old cookie (the browser had not stored the new one yet) get the same
// new token instead of refreshing again, which with rotating refresh tokens
// would be a replay and end the session. The memo lives in the
// session-scoped state (state.go), so a configuration reload in the middle
// of a refresh finds it instead of replaying it.
//
// A remembered refresh never outlives the token it produced: the new access
// token is validated on every use like any other token (the validation
// cache: at most cache.ttl, never past its exp), so once it is revoked,
// expired or logged out, the old credential gets nothing from the memo.

// failureMemo bounds how long a failed refresh is remembered: long enough
// to answer a burst of requests with the same dead credential with one
// backend call, short enough that junk credentials do not pile up.
const failureMemo = 5 * time.Second

// flowRefreshSession refreshes with credential and turns the outcome into the
// request's session and cookies.
func flowRefreshSession(f *flow, carried carriedCookies, credential string) *authResult {
	out, limited := flowRefresh(f, credential)
	if limited != nil {
		return &authResult{limited: limited}
	}
	switch out.kind {
	case refreshDone:
		record(f.m, f.req, eventAuthRefresh, auditEntry{who: out.session.id, token: out.accessToken, success: out.session.state == stateValid})
		return refreshedSession(f.s, out)
	case refreshReuse:
		record(f.m, f.req, eventAuthReuse, auditEntry{token: credential, reason: "refresh-token-reuse"})
		return &authResult{loggedOut: true, setCookies: cookiesClearing(&f.s.cookies, carried, true, true, true)}
	case refreshTransient:
		record(f.m, f.req, eventAuthRefreshFail, auditEntry{token: credential, reason: "backend-unavailable"})
		return &authResult{transient: true}
	}
	record(f.m, f.req, eventAuthRefreshFail, auditEntry{token: credential, reason: "expired-or-revoked"})
	cleared := cookiesClearing(&f.s.cookies, carried, true, false, true)
	if !f.s.refresh.fallbackToGuest {
		return &authResult{setCookies: cleared}
	}
	res := flowGuestSession(f, carried)
	res.setCookies = append(cleared, res.setCookies...)
	return res
}

func refreshedSession(s *settings, out refreshOutcome) *authResult {
	cookies := appendCookie(nil, userCookieValue(&s.cookies, out.accessToken))
	if out.refreshToken != "" && s.cookies.refresh != "" {
		cookies = appendCookie(cookies, refreshCookieValue(&s.cookies, out.refreshToken))
	}
	if out.session.state != stateValid {
		// The new tokens are kept (a rotated refresh token must not be
		// lost), but this request cannot be authenticated.
		return &authResult{transient: true, setCookies: cookies}
	}
	res := userSession(s, out.accessToken, out.session.id)
	res.refreshed = out.accessToken
	if res.loggedIn {
		cookies = appendCookie(cookies, expiryHintCookie(&s.cookies, res.id))
	}
	res.setCookies = cookies
	return res
}

// flowRefresh makes, joins or remembers the refresh of credential. Only a
// client that starts a refresh spends its refresh budget.
//
// A logged-out credential (revocation.go) is refused here: no backend call,
// whether or not the backend's logout took effect.
func flowRefresh(f *flow, credential string) (refreshOutcome, *ratelimit.Decision) {
	if loggedOut(credential) || clusterCredentialLoggedOut(f.state.cluster, credential) {
		return refreshOutcome{kind: refreshFatal}, nil
	}
	var refused *ratelimit.Decision
	var charge cache.ChargeFunc
	if f.state.limiter != nil {
		charge = func(stale interface{}) bool {
			refused = spendBudget(f.m, ratelimit.BudgetRefreshes, flowClient(f))
			return refused == nil
		}
	}
	m, client := f.m, flowClient(f)
	v, how := cache.Load(m.state.refreshes, cache.Key(credential), flowDeadline(f), charge, func() (interface{}, time.Duration, bool) {
		out := refreshNow(m, client, credential)
		return out, refreshMemoTTL(m.s, out.kind), out.kind != refreshDone
	})
	switch how {
	case cache.Refused:
		record(f.m, f.req, eventRateLimitExceeded, auditEntry{reason: "refreshes", status: http.StatusTooManyRequests})
		return refreshOutcome{}, refused
	case cache.Failed:
		return refreshOutcome{kind: refreshTransient}, nil
	}
	out := v.(refreshOutcome)
	if out.kind == refreshDone && how != cache.Led {
		out = flowRevalidated(f, out)
	}
	return out, nil
}

// flowRevalidated checks a refresh result this request did not make itself
// (remembered, or made by a request of another instance): its session is
// whatever the new access token is worth now.
func flowRevalidated(f *flow, out refreshOutcome) refreshOutcome {
	v, _ := flowValidate(f, out.accessToken, false)
	if v.state == stateInvalid {
		return refreshOutcome{kind: refreshFatal}
	}
	out.session = v
	return out
}

// refreshMemoTTL remembers a finished refresh for the grace window, and a
// failed one briefly (never a transient one).
func refreshMemoTTL(s *settings, kind refreshKind) time.Duration {
	switch kind {
	case refreshTransient:
		return 0
	case refreshDone:
		return s.refresh.graceWindow
	}
	if s.refresh.graceWindow < failureMemo {
		return s.refresh.graceWindow
	}
	return failureMemo
}

// refreshNow calls the backend and validates the new token: a refresh
// counts only if its token validates. It runs detached from any request
// (see cache.Load), under its own backend.timeout per call.
func refreshNow(m *middleware, client, credential string) refreshOutcome {
	if n := m.state.cluster; n != nil {
		if out, ok := clusterRefresh(m, n, client, credential); ok {
			return out
		}
	}
	return refreshHere(m, client, credential)
}

// refreshHere is this replica's own refresh call.
func refreshHere(m *middleware, client, credential string) refreshOutcome {
	ctx, cancel := backendContext(m.state.backend)
	ans := backendRefresh(m.state.backend, ctx, client, credential)
	cancel()
	switch ans.kind {
	case refreshDone:
	case refreshReuse:
		// Logged here, once per event, not once per waiting request.
		log.Printf("authlayer: %s: refresh token reuse detected, session ended", m.name)
		return refreshOutcome{kind: refreshReuse}
	default:
		return refreshOutcome{kind: ans.kind}
	}
	return refreshValidated(m, client, ans.accessToken, ans.refreshToken)
}

// refreshValidated validates a refresh's new access token: a refresh
// counts only if its token validates.
func refreshValidated(m *middleware, client, access, refresh string) refreshOutcome {
	f := &flow{m: m, s: m.s, state: m.state, deadline: time.Now().Add(m.s.backend.timeout), client: client}
	v, _ := flowValidate(f, access, false)
	if v.state == stateInvalid {
		return refreshOutcome{kind: refreshFatal}
	}
	// A transient answer keeps the new tokens: the old ones are spent.
	return refreshOutcome{kind: refreshDone, accessToken: access, refreshToken: refresh, session: v}
}
