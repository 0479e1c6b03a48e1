package authlayer

import (
	"github.com/authlayer/authlayer/internal/opts"
	"log"
	"net/http"

	"github.com/authlayer/authlayer/internal/csrf"
)

// CSRF in the request flow (the guard itself is internal/csrf). The
// checks that need no session (Fetch Metadata, Origin, Referer, method
// overrides) run before any backend call, so a cross-site forgery never
// costs a validation; the signed double-submit token, bound to the
// session, is checked once the session is known. Excluded paths bypass
// authlayer and so CSRF too; exempt paths (csrf.exemptPaths) are matched
// exactly. A remembered session's safe request skips all of it
// (serveRememberedGuarded, csrf.Safe).

// compileCSRF is the csrf.* step of compileSettings: s.csrf is nil when
// csrf.enabled is false. The guard reads cookie names, header names and
// paths with the same rules as the rest of authlayer.
func compileCSRF(c *Config, s *settings) error {
	o := c.CSRF
	g, err := csrf.Compile(csrf.Options{
		Enabled: o.Enabled, Secret: o.Secret, CookieName: o.CookieName, HeaderName: o.HeaderName,
		TrustedOrigins: o.TrustedOrigins, ExemptPaths: o.ExemptPaths,
		TrustSameSite: o.TrustSameSite, ReportOnly: o.ReportOnly,
		SecureCookies: s.cookies.secure, MaxCookieBytes: maxCookieBytes,
		ValidCookieName: validCookieName, ValidHeaderName: validHeaderName,
		CanonicalPath: canonicalPath, FoldHeaderName: normalizeHeaderName,
	})
	if err != nil {
		return err
	}
	if g != nil && (g.CookieName == s.cookies.user || g.CookieName == s.cookies.guest || g.CookieName == s.cookies.refresh) {
		return opts.Error("csrf.cookieName", "%s is already a token cookie", g.CookieName)
	}
	s.csrf = g
	return nil
}

// sessionWithCSRF is the token flow (authenticate; known is a session
// already remembered for this request) with, when csrf.enabled, the
// session-free checks before it and the token after. answered says the
// request was refused.
func sessionWithCSRF(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, known *authResult) (res *authResult, answered bool) {
	if m.csrf == nil {
		return authenticate(m, req, route, known), false
	}
	answered, needToken := csrfBefore(m, rw, req, route)
	if answered {
		return nil, true
	}
	answered, res = csrfAfter(m, rw, req, route, authenticate(m, req, route, known), needToken)
	return res, answered
}

// csrfBefore runs the session-free checks. It reports whether it answered
// the request, and whether the token must still be checked.
func csrfBefore(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch) (answered, needToken bool) {
	verdict, reason := csrf.Early(m.csrf, req, route.path)
	switch verdict {
	case csrf.Reject:
		return csrfFailed(m, rw, req, route, &authResult{}, reason), false
	case csrf.NeedToken:
		return false, true
	}
	return false, false
}

// csrfAfter checks the token when needed and issues one to a session that
// has none (guests included), without rotating a valid one. It returns
// whether it answered, and the session to go on with: a copy when a cookie
// was added (res may be a shared, remembered session; see sessionmemo.go).
func csrfAfter(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, res *authResult, needToken bool) (bool, *authResult) {
	binding := csrfBinding(res)
	if c := csrf.Issue(m.csrf, req, binding); c != "" {
		cp := *res
		cp.setCookies = append(append(make([]string, 0, len(res.setCookies)+1), res.setCookies...), c)
		res = &cp
	}
	if needToken && !csrf.TokenValid(m.csrf, req, binding) {
		return csrfFailed(m, rw, req, route, res, "token"), res
	}
	return false, res
}

// csrfBinding is the session's csrf.Binding: a token minted for another
// session (another user, or the guest before login) fails.
func csrfBinding(res *authResult) string {
	if res.id == nil {
		return ""
	}
	return csrf.Binding(res.id.tokenType, res.id.userID)
}

// csrfFailed logs the failure and, unless in report-only mode, answers 403
// with next-api-layer's message. It reports whether it answered.
func csrfFailed(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, res *authResult, reason string) bool {
	record(m, req, eventCSRFFail, auditEntry{who: res.id, token: res.token, reason: reason, status: http.StatusForbidden})
	if m.csrf.ReportOnly {
		//nolint:gosec // G706: reason is one of internal/csrf's fixed reason codes, never client text
		log.Printf("authlayer: %s: CSRF check failed (%s), allowed by csrf.reportOnly", m.name, reason)
		return false
	}
	rw.Header().Add("Vary", "Sec-Fetch-Site")
	rw.Header().Add("Vary", "Origin")
	deny(m, rw, req, route, res, http.StatusForbidden, "CSRF validation failed")
	return true
}
