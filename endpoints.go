package authlayer

import (
	"github.com/authlayer/authlayer/internal/opts"
	"net/http"
	"strings"

	"github.com/authlayer/authlayer/internal/csrf"
)

// authlayer's own session endpoints (endpoints.*): login (login.go),
// logout (logout.go) and session (sessioninfo.go). Each is one exact
// path, answered here and never forwarded to the app. They run after
// the rate limits, CSRF and the token flow, so they get the session and
// its protections like any other request (login CSRF uses the guest's
// token).

type endpointKind int

const (
	endpointNone endpointKind = iota
	endpointLogin
	endpointLogout
	endpointSession
)

// endpointSettings are the compiled endpoints options.
type endpointSettings struct {
	paths        map[string]endpointKind // canonical path → endpoint
	logout       string                  // endpoints.logout, for the 403 page's "sign in with another account"
	maxBodyBytes int64
}

func compileEndpoints(c *Config, s *settings) error {
	e := c.Endpoints
	if e.MaxBodyBytes < 1 {
		return opts.Error("endpoints.maxBodyBytes", "must be at least 1, got %d", e.MaxBodyBytes)
	}
	s.endpoints = endpointSettings{paths: map[string]endpointKind{}, maxBodyBytes: int64(e.MaxBodyBytes)}
	named := []struct {
		option, value string
		kind          endpointKind
	}{
		{"endpoints.login", e.Login, endpointLogin},
		{"endpoints.logout", e.Logout, endpointLogout},
		{"endpoints.session", e.Session, endpointSession},
	}
	for _, n := range named {
		p := strings.TrimSpace(n.value)
		if p == "" {
			continue
		}
		if !strings.HasPrefix(p, "/") || canonicalPath(p) != p || strings.ContainsAny(p, "?#;%") {
			return opts.Error(n.option, "%q must be a plain absolute path such as /auth/login", n.value)
		}
		if _, taken := s.endpoints.paths[p]; taken {
			return opts.Error(n.option, "%s is already another endpoint", p)
		}
		if matchRoute(s.routes.table, p).kind == kindExcluded {
			return opts.Error(n.option, "%s is under routes.excluded, so authlayer would never see it", p)
		}
		s.endpoints.paths[p] = n.kind
		if n.kind == endpointLogout {
			s.endpoints.logout = p
		}
	}
	return nil
}

// serveEndpoint answers a request to one of the endpoints; res is the
// request's session from the token flow.
func serveEndpoint(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, res *authResult) {
	if res.limited != nil {
		writeSessionHeaders(rw, res)
		answerRateLimited(m, rw, req, route, *res.limited)
		return
	}
	if m.csrf == nil && route.endpoint != endpointSession && crossSitePost(req) {
		// Without csrf.enabled, login and logout still refuse what a
		// browser marks as cross-site: a forged login (into the
		// attacker's account) or logout needs nothing else.
		record(m, req, eventCSRFFail, auditEntry{who: res.id, token: res.token, reason: "cross-site-endpoint", status: http.StatusForbidden})
		deny(m, rw, req, route, res, http.StatusForbidden, "Cross-site request refused")
		return
	}
	switch route.endpoint {
	case endpointLogin:
		serveLogin(m, rw, req, route, res)
	case endpointLogout:
		serveLogout(m, rw, req, route, res)
	case endpointSession:
		serveSessionInfo(m, rw, req, route, res)
	}
}

// crossSitePost is a request a browser says comes from another origin:
// Sec-Fetch-Site cross-site, or an Origin (scheme, host and port) that is
// not the request's own; a "null" Origin or more than one Origin header
// says nothing trustworthy and counts as cross-site too.
func crossSitePost(req *http.Request) bool {
	if req.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return true
	}
	values, sent := req.Header["Origin"]
	if !sent {
		return false
	}
	if len(values) != 1 {
		return true
	}
	origin, ok := csrf.HeaderOrigin(values[0])
	return !ok || origin != csrf.RequestOrigin(req)
}

// endpointMethod answers 405 unless req uses one of methods.
func endpointMethod(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, res *authResult, methods ...string) bool {
	for _, allowed := range methods {
		if req.Method == allowed {
			return true
		}
	}
	rw.Header().Set("Allow", strings.Join(methods, ", "))
	deny(m, rw, req, route, res, http.StatusMethodNotAllowed, "Method not allowed")
	return false
}

// isFormPost is a browser's HTML form submission.
func isFormPost(req *http.Request) bool {
	return requestBodyKind(req) == bodyForm
}
