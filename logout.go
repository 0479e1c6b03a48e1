package authlayer

import (
	"context"
	"encoding/json"
	"log"
	"net/http"
	"time"

	"github.com/authlayer/authlayer/internal/ratelimit"
)

// endpoints.logout (POST): the backend is told (backend.logoutPath, with
// the access token as Bearer and the refresh token in the body, best
// effort within the request's one backend.timeout); every auth cookie is
// cleared with the attributes it was set with; and the access token and
// refresh credential the logout carried are marked logged out for their
// whole remaining life (revocation.go), in every middleware of this
// Traefik (and, in cluster mode, of every replica: clusterlogout.go),
// whatever the backend did and whatever jwt.mode says. A form
// gets a redirect (the safe return-to value, else routes.homeUrl); a
// script gets {"success":true}.

func serveLogout(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, res *authResult) {
	if !endpointMethod(m, rw, req, route, res, http.MethodPost) {
		return
	}
	carried := cookiesRead(&m.s.cookies, req)
	tellBackendLogout(m, req, carried)
	forgetSession(m, res, carried)
	record(m, req, eventAuthLogout, auditEntry{who: res.id, token: firstNonEmpty(carried.user, res.token), success: true})
	out := &authResult{setCookies: logoutCookies(m.s)}
	if isFormPost(req) || isPageVisit(req, route) {
		redirect(rw, req, out, afterLogout(m, req.URL.Query().Get(m.s.routes.returnTo)))
		return
	}
	writeSessionHeaders(rw, out)
	writeJSON(rw, http.StatusOK, map[string]bool{"success": true})
}

// afterLogout is where a form logout goes: any local path (the login
// page included: the user is signed out now), else routes.homeUrl.
func afterLogout(m *middleware, returnTo string) string {
	if isLocalPath(returnTo) {
		return returnTo
	}
	return m.s.routes.homeURL
}

// tellBackendLogout calls backend.logoutPath, best effort.
func tellBackendLogout(m *middleware, req *http.Request, carried carriedCookies) {
	bearer := firstNonEmpty(carried.user, carried.refresh)
	if bearer == "" {
		return
	}
	var body []byte
	if carried.refresh != "" {
		body, _ = json.Marshal(map[string]string{"refreshToken": carried.refresh})
	}
	ctx, cancel := context.WithDeadline(req.Context(), requestDeadline(m, req))
	client := ratelimit.ClientKey(m.state.limiter, req)
	var ans backendAnswer
	var err error
	if sh := shapeFor(m.state.backend, "logout"); sh != nil {
		if sh.fieldsSeen["refreshToken"] > 0 && carried.refresh == "" {
			// The shape revokes the refresh token (simplejwt's blacklist,
			// RFC 7009): without one there is nothing to send, and an
			// empty token would only earn a 400.
			cancel()
			return
		}
		vals := &shapeValues{token: bearer, accessToken: carried.user, refreshToken: carried.refresh}
		ans, err = backendCallShaped(m.state.backend, ctx, client, sh, m.s.backend.logoutURL, vals, nil)
	} else {
		ans, err = backendCall(m.state.backend, ctx, client, http.MethodPost, m.s.backend.logoutURL, bearer, body)
	}
	cancel()
	healthReport(m.state.backend.health, "logout", m.s.backend.logoutURL, logoutCause(ans, err))
	if err != nil || !is2xx(ans.status) {
		log.Printf("authlayer: %s: backend logout not confirmed (best effort); the cookies are cleared anyway", m.name)
	}
}

// forgetSession marks the tokens the logout carried (and one a refresh on
// this very request produced) and drops what every middleware remembers
// of them. Only a session that validated here gets lasting marks; the
// rest (junk, or the backend down) get best-effort ones (revocation.go).
func forgetSession(m *middleware, res *authResult, carried carriedCookies) {
	cs := &m.s.cookies
	var exp time.Time
	if res.loggedIn && res.id != nil {
		exp = res.id.expiresAt
	}
	var tokens []string
	var shared []clusterMark
	mark := func(token string, exp time.Time, fallback time.Duration, verified bool) {
		if token != "" && token != carried.guest {
			life := markLife(token, exp, fallback)
			markLoggedOutFor(token, life, verified)
			tokens = append(tokens, token)
			shared = append(shared, clusterMark{token: token, life: life, verified: verified})
		}
	}
	if carried.user != res.token && carried.user != res.refreshed {
		// Not the session's token (it was refused, and the refresh cookie
		// made the session): nothing vouches for it, so its mark is a
		// best-effort one, or junk user cookies could fill the lasting tier.
		mark(carried.user, time.Time{}, cookieLife(cs.userMaxAge), false)
	}
	if res.loggedIn {
		mark(res.token, exp, cookieLife(cs.userMaxAge), true)
		if res.refreshed != res.token {
			mark(res.refreshed, exp, cookieLife(cs.userMaxAge), true)
		}
	}
	// The refresh credential goes with a session that validated: one per
	// logout of a valid session (the session's own token is marked with it,
	// so it cannot be used for another lasting mark).
	mark(carried.refresh, time.Time{}, cookieLife(cs.refreshMaxAge), res.loggedIn)
	if res.loggedIn || knownAnywhere(tokens) {
		forgetEverywhere(tokens)
	}
	clusterPublishLogout(m.state.cluster, shared)
}

// logoutCookies delete every auth cookie, carried or not.
func logoutCookies(s *settings) []string {
	cs := &s.cookies
	out := []string{buildCookie(cs, cs.user, "", cs.path, -1), buildCookie(cs, cs.guest, "", cs.path, -1)}
	if cs.refresh != "" {
		out = append(out, buildCookie(cs, cs.refresh, "", cs.refreshCookiePath, -1))
	}
	if cs.hint != "" {
		out = append(out, buildCookie(cs, cs.hint, "", cs.path, -1))
	}
	return out
}
