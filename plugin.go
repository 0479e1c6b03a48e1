// Package authlayer is a Traefik middleware plugin that gives the app behind
// it a cookie-based JWT session layer against an external auth backend.
package authlayer

import (
	"context"
	"net/http"

	"github.com/authlayer/authlayer/internal/csrf"
)

// middleware is one instance, built for one router.
type middleware struct {
	next   http.Handler
	name   string
	s      *settings
	state  *sharedState
	routes *routeMemo
	audit  *auditLog   // nil when audit.enabled is false
	csrf   *csrf.Guard // nil when csrf.enabled is false
	// guarded: rate limits, CSRF, i18n or methodOverride is on, work on a
	// remembered session's request beyond the identity headers
	// (serveRememberedGuarded); without any, it takes the short path.
	guarded bool
	headers *headerSettings // &s.headers, one field read on the short path
	memo    *sessionMemo    // state.sessions, likewise
	cookies *cookieSettings // &s.cookies, read on every miss (&m.s.cookies copies the struct under Yaegi)
}

// New builds the middleware. It checks and compiles the configuration and
// returns an error naming the first bad option; it does no network I/O
// and starts no goroutine (Traefik calls it for every router on every
// reload, and the plugin catalog calls it offline).
func New(_ context.Context, next http.Handler, config *Config, name string) (http.Handler, error) {
	s, err := compileSettings(config)
	if err != nil {
		return nil, err
	}
	if s.audit != nil {
		s.audit.middleware = capAuditField(name)
	}
	warnNothingProtected(name, config)
	state := sharedStateFor(name, config, s)
	return &middleware{
		next: next, name: name, s: s,
		guarded: s.limiter != nil || s.csrf != nil || s.i18n != nil || s.methodOverride.enabled,
		headers: &s.headers,
		memo:    state.sessions,
		cookies: &s.cookies,
		state:   state,
		routes:  newRouteMemo(s.routes.table, s.routes.protectAmbiguous, s.endpoints.paths),
		audit:   s.audit,
		csrf:    s.csrf,
	}, nil
}

// ServeHTTP is the request path, in one direction:
//
//	route (routeFor, memoised per path)
//	  → a remembered session on a route it passes: its identity headers
//	    and the app, here (serveRememberedGuarded when rate limits, CSRF,
//	    i18n or methodOverride need more)
//	  → else the whole flow: serveFlow (strip identity headers, refuse a
//	    rejected path, locale, excluded paths, rate limit)
//	      → serveSession (browser-API navigations, the token flow with
//	        CSRF around it, or an endpoint under one deadline)
//	        → finish: the endpoint, a denial, or forward to the app.
//
// Each step runs once: the route, the locale and a remembered session are
// computed once and passed on, and a remembered session that needs the
// CSRF token checked joins the flow at serveSession, not at its start.
//
// Why so small: Yaegi allocates every local and temporary a function
// declares on each call, whether or not that code runs (each field read,
// each comparison, each call's results is one), plus two per call, and
// each call into the standard library boxes its arguments. The most
// common request, a remembered session, is answered here in four calls;
// the rest is kept in small plain functions with few locals, and rare
// branches (refresh, guests, denials, CSRF, rate limits) live in their
// own functions.
func (m *middleware) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	route := routeFor(m.routes, req.URL.Path, req.URL.RawPath)
	if route.gate == gateFull {
		serveFlow(m, rw, req, route, nil)
		return
	}
	res := memoSession(m.memo, req.Header)
	switch {
	case res == nil:
		serveFlow(m, rw, req, route, memoEmpty) // the flow need not look again
	case route.gate == gateUser && !res.loggedIn:
		serveFlow(m, rw, req, route, res)
	case m.guarded:
		serveRememberedGuarded(m, rw, req, route, res)
	default:
		stripIdentityHeaders(m.headers, req)
		setIdentityHeaders(m.headers, req, res)
		m.next.ServeHTTP(rw, req)
	}
}

// memoEmpty, passed as a flow's known session, says the session memo was
// consulted and remembers nothing for the request (authenticate).
var memoEmpty = &authResult{}

// serveRememberedGuarded answers a request whose Cookie header maps to a
// settled session (sessionmemo.go), res, on a route that session passes,
// with rate limiting, CSRF, i18n or methodOverride on: the request budget
// is spent as always; a safe request whose CSRF cookie is already valid
// for this session (noted in the memo) needs no CSRF work; anything else
// joins the flow at serveSession with the remembered session, its budget
// spent and its headers stripped.
func serveRememberedGuarded(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, res *authResult) {
	unusual := stripIdentityHeaders(m.headers, req)
	if m.s.i18n != nil {
		applyLocale(m, rw, req, route) // first: a refusal's page links keep the locale
	}
	if m.state.limiter != nil && rateLimited(m, rw, req, unusual) {
		return
	}
	if m.csrf != nil && (!res.csrfOK || !csrf.Safe(m.csrf, req, route.path, unusual)) {
		serveSession(m, rw, req, route, res)
		return
	}
	setIdentityHeaders(m.headers, req, res)
	if m.s.methodOverrideOn && applyMethodOverride(m, rw, req, res) {
		return
	}
	m.next.ServeHTTP(rw, req)
}

// serveFlow is the whole flow from its start: strip spoofed identity
// headers, refuse a rejected path, the locale, excluded paths, the rate
// limit, then serveSession. known is what the session memo said (nil when
// it was not consulted; see authenticate).
func serveFlow(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, known *authResult) {
	unusual := stripIdentityHeaders(m.headers, req)
	if route.rejected || route.kind == kindExcluded || m.s.i18n != nil {
		if serveRouteFirst(m, rw, req, route) {
			return
		}
	}
	if m.state.limiter != nil && rateLimited(m, rw, req, unusual) {
		return
	}
	serveSession(m, rw, req, route, known)
}

// serveRouteFirst is what the route decides before any session: a
// rejected path is refused, the locale applied, an excluded path served
// as is. It reports whether it answered.
func serveRouteFirst(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch) bool {
	if route.rejected {
		deny(m, rw, req, route, &authResult{}, http.StatusBadRequest, "Invalid request path")
		return true
	}
	if m.s.i18n != nil {
		applyLocale(m, rw, req, route)
	}
	if route.kind != kindExcluded {
		return false
	}
	if m.s.methodOverrideOn && applyMethodOverride(m, rw, req, &authResult{}) {
		return true
	}
	m.next.ServeHTTP(rw, req)
	return true
}

// serveSession finds the request's session (remembered, when known is not
// nil) with CSRF around the token flow, then finishes the request. A
// browser navigating to an API path is turned away first; an endpoint
// runs under one deadline (serveEndpointFlow).
func serveSession(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, known *authResult) {
	if m.s.blockBrowserAPI && route.api && blockedNavigation(m, rw, req, route) {
		return
	}
	if route.endpoint != endpointNone {
		serveEndpointFlow(m, rw, req, route)
		return
	}
	if m.csrf == nil && known == memoEmpty { // and authenticate's first case
		finish(m, rw, req, route, authenticateMiss(m, req, route))
		return
	}
	if m.csrf == nil { // sessionWithCSRF's first case, saving its frame
		finish(m, rw, req, route, authenticate(m, req, route, known))
		return
	}
	if res, answered := sessionWithCSRF(m, rw, req, route, known); !answered {
		finish(m, rw, req, route, res)
	}
}

// serveEndpointFlow is serveSession for authlayer's own endpoints: the
// token flow and the endpoint's own backend call share one deadline,
// backend.timeout from here (requestDeadline).
func serveEndpointFlow(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch) {
	ctx, cancel := context.WithTimeout(req.Context(), m.s.backend.timeout)
	defer cancel()
	req = req.WithContext(ctx)
	if res, answered := sessionWithCSRF(m, rw, req, route, nil); !answered {
		finish(m, rw, req, route, res)
	}
}

// finish is the flow's one tail: the endpoint answers, or the access rules
// deny, or the request goes to the app.
func finish(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, res *authResult) {
	if route.endpoint != endpointNone {
		serveEndpoint(m, rw, req, route, res)
		return
	}
	if mayBeDenied(route, res) && denied(m, rw, req, route, res) {
		return
	}
	forward(m, rw, req, res)
}

// forward hands the request to the app with the session's identity, and
// sets the session's cookies on the app's response.
func forward(m *middleware, rw http.ResponseWriter, req *http.Request, res *authResult) {
	setIdentityHeaders(m.headers, req, res)
	if res.refreshed != "" {
		setRefreshedHeader(m.headers, req, res)
	}
	if m.s.methodOverrideOn && applyMethodOverride(m, rw, req, res) {
		return
	}
	if len(res.setCookies) == 0 {
		m.next.ServeHTTP(rw, req)
		return
	}
	warnSecureCookiesOverHTTP(m, req)
	cw := &cookieWriter{rw: rw, res: res}
	m.next.ServeHTTP(cw, req)
	// An app that writes nothing still gets its empty 200 sent by the
	// server after this returns: the session's cookies must be on it (a
	// lost rotated refresh token would log the user out later).
	addSessionHeaders(cw)
}
