package authlayer

import (
	"net/http"
)

// mayBeDenied is the quick test that lets the common requests (public
// pages, a logged-in user on a protected page) skip the full decision.
func mayBeDenied(route *routeMatch, res *authResult) bool {
	if res.loggedOut || res.limited != nil {
		return true
	}
	switch route.kind {
	case kindNone, kindPublic:
		return false
	case kindProtected:
		return !res.loggedIn
	}
	return true
}

// denied applies the access rules to the session and answers the request
// itself when it may not reach the app. It reports whether it answered.
func denied(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, res *authResult) bool {
	switch {
	case res.limited != nil:
		writeSessionHeaders(rw, res)
		answerRateLimited(m, rw, req, route, *res.limited)
	case res.loggedOut && route.kind != kindAuthOnly:
		denyAnonymous(m, rw, req, route, res, "Session ended", "session-ended")
	case route.needsUser && res.transient:
		// Fail closed: the backend could not vouch for the user.
		record(m, req, eventAccessDenied, auditEntry{who: res.id, token: res.token, reason: "backend-unavailable", status: http.StatusServiceUnavailable})
		deny(m, rw, req, route, res, http.StatusServiceUnavailable, "Authentication service unavailable")
	case route.needsUser && !res.loggedIn:
		denyAnonymous(m, rw, req, route, res, "Authentication required", "login-required")
	case route.kind == kindRole && !hasAnyRole(res.id, route.roles):
		record(m, req, eventAccessDenied, auditEntry{who: res.id, token: res.token, reason: "role-required", status: http.StatusForbidden})
		deny(m, rw, req, route, res, http.StatusForbidden, "Forbidden")
	case route.kind == kindAuthOnly && res.loggedIn && isPageVisit(req, route):
		redirect(rw, req, res, returnToTargetFor(m, route, req.URL.Query()))
	default:
		return false
	}
	return true
}

// denyAnonymous sends a browser to the login page with a way back, and
// answers an API client 401.
func denyAnonymous(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, res *authResult, message, reason string) {
	if isAPIRequest(req, route) {
		record(m, req, eventAccessDenied, auditEntry{who: res.id, token: res.token, reason: reason, status: http.StatusUnauthorized})
		deny(m, rw, req, route, res, http.StatusUnauthorized, message)
		return
	}
	record(m, req, eventAccessDenied, auditEntry{who: res.id, token: res.token, reason: reason, status: redirectStatus(req)})
	redirect(rw, req, res, loginRedirect(m, route, req.URL.RequestURI()))
}

// isPageVisit is a browser navigating (GET or HEAD of an HTML page).
func isPageVisit(req *http.Request, route *routeMatch) bool {
	return (req.Method == http.MethodGet || req.Method == http.MethodHead) && !isAPIRequest(req, route)
}

func hasAnyRole(id *identity, roles []string) bool {
	if id == nil {
		return false
	}
	for _, want := range roles {
		for _, have := range id.roles {
			if have == want {
				return true
			}
		}
	}
	return false
}
