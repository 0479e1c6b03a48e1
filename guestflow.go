package authlayer

import (
	"context"
	"log"

	"github.com/authlayer/authlayer/internal/ratelimit"
)

// Guests in the token flow: a valid guest cookie is used, else a guest
// token is minted (guest.enabled). A guest token is an anonymous session
// for one client, so minting is never shared or deduplicated, and it is
// skipped where a guest session cannot change the answer (a route that
// needs a user answers the same with or without one).

// flowGuestSession uses a valid guest cookie, or mints a guest token.
func flowGuestSession(f *flow, carried carriedCookies) *authResult {
	var cleared []string
	if carried.guest != "" {
		v, limited := flowValidate(f, carried.guest, true)
		if limited != nil {
			return &authResult{limited: limited}
		}
		switch v.state {
		case stateValid:
			record(f.m, f.req, eventAuthSuccess, auditEntry{who: v.id, token: carried.guest, success: true, reason: "guest"})
			return &authResult{id: v.id, token: carried.guest}
		case stateTransient:
			record(f.m, f.req, eventError, auditEntry{token: carried.guest, reason: "backend-unavailable"})
			return &authResult{transient: true}
		}
		record(f.m, f.req, eventAuthFail, auditEntry{token: carried.guest, reason: firstNonEmpty(v.reason, "invalid-guest-token")})
		cleared = cookiesClearing(&f.s.cookies, carried, false, true, false)
	}
	if !f.s.guest.enabled || (f.route != nil && (f.route.needsUser || f.route.endpoint != endpointNone)) {
		// No guest where one cannot change the answer: a route that
		// needs a user, and authlayer's own endpoints (a login replaces
		// any guest; a logout or session answer needs none).
		return &authResult{setCookies: cleared}
	}
	res := flowMintGuest(f)
	if len(res.setCookies) == 0 {
		// Clear the stale guest cookie only when no new one replaces it:
		// one Set-Cookie per name, never a clear and a set side by side.
		res.setCookies = cleared
	}
	return res
}

// flowMintGuest asks the backend for a guest token for this client alone,
// within the request's deadline, and validates it.
func flowMintGuest(f *flow) *authResult {
	if rl := f.state.limiter; rl != nil {
		if refused := spendBudget(f.m, ratelimit.BudgetGuestMints, flowClient(f)); refused != nil {
			// Served without a guest session, not refused: status 0 says
			// the request went on.
			record(f.m, f.req, eventRateLimitExceeded, auditEntry{reason: "guest-mints"})
			return &authResult{}
		}
	}
	ctx, cancel := context.WithDeadline(f.req.Context(), flowDeadline(f))
	token, err := backendMintGuest(f.state.backend, ctx, flowClient(f))
	cancel()
	if err != nil { // logged once per change of the guest endpoint's state (backendhealth.go)
		record(f.m, f.req, eventError, auditEntry{reason: "guest-mint-failed"})
		return &authResult{}
	}
	v, _ := flowValidate(f, token, false)
	if v.state != stateValid {
		log.Printf("authlayer: %s: minted guest token did not validate", f.m.name)
		record(f.m, f.req, eventError, auditEntry{token: token, reason: "guest-token-invalid"})
		return &authResult{}
	}
	record(f.m, f.req, eventAuthGuest, auditEntry{who: v.id, token: token, success: true})
	return &authResult{
		id: v.id, token: token, refreshed: token,
		setCookies: appendCookie(nil, guestCookieValue(&f.s.cookies, token)),
	}
}
