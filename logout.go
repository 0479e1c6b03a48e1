package authlayer

import (
	"context"
	"encoding/json"
	"log"
	"net/http"
	"time"
)

// endpoints.logout (POST): the backend is told (backend.logoutPath, with
// the access token as Bearer and the refresh token in the body, best
// effort within backend.timeout); every auth cookie is cleared with the
// attributes it was set with; what this Traefik remembers of the session
// is dropped: the cached validation becomes a logged-out mark until the
// token's exp (a copied cookie replayed here is refused at once, whatever
// the backend or jwt.mode), the remembered refreshes are forgotten and so
// are the session memo's entries. A form gets a redirect (the safe
// return-to value, else routes.homeUrl); a script gets {"success":true}.

// loggedOutFor bounds the logged-out mark of a token whose expiry is
// unknown, or far away.
const (
	loggedOutUnknown = 10 * time.Minute
	loggedOutMax     = 24 * time.Hour
)

func serveLogout(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, res *authResult) {
	if !endpointMethod(m, rw, req, route, res, http.MethodPost) {
		return
	}
	carried := cookiesRead(&m.s.cookies, req)
	tellBackendLogout(m, req, carried)
	forgetSession(m, res, carried)
	record(m, req, eventAuthLogout, res.id, firstNonEmpty(carried.user, res.token), true, "", 0)
	out := &authResult{setCookies: logoutCookies(m.s)}
	if isFormPost(req) || isPageVisit(req, route) {
		redirect(rw, req, out, afterLogout(m, req.URL.Query().Get(m.s.returnTo)))
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
	return m.s.homeURL
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
	ctx, cancel := context.WithTimeout(req.Context(), m.s.backend.timeout)
	ans, err := backendCall(m.state.backend, ctx, rateClientKey(m.state.limiter, req), http.MethodPost, m.s.backend.logoutURL, bearer, body)
	cancel()
	if err != nil || !is2xx(ans.status) {
		log.Printf("authlayer: %s: backend logout not confirmed (best effort); the cookies are cleared anyway", m.name)
	}
}

// forgetSession drops what this Traefik remembers of the session: the
// tokens it carried, and one a refresh on this very request produced.
func forgetSession(m *middleware, res *authResult, carried carriedCookies) {
	ttl := loggedOutUnknown
	if res.id != nil && !res.id.expiresAt.IsZero() {
		ttl = time.Until(res.id.expiresAt) + time.Minute
	}
	if ttl > loggedOutMax {
		ttl = loggedOutMax
	}
	mark := validation{state: stateInvalid, reason: "logged-out"}
	tokens := []string{carried.user, res.token, res.refreshed}
	for _, tok := range tokens {
		if tok != "" && tok != carried.guest {
			cacheStore(m.state.validations, cacheKey(tok), mark, ttl, false)
			cacheDelete(m.state.refreshes, cacheKey(tok))
		}
	}
	if carried.refresh != "" {
		cacheDelete(m.state.refreshes, cacheKey(carried.refresh))
	}
	memoForget(m.state.sessions, tokens)
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
