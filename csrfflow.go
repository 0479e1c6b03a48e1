package authlayer

import (
	"log"
	"net/http"
	"strings"
)

// CSRF in the request flow (the guard itself is csrf.go). The checks that
// need no session (Fetch Metadata, Origin, Referer) run before any backend
// call, so a cross-site forgery never costs a validation; the signed
// double-submit token, bound to the session, is checked once the session
// is known. Excluded paths bypass authlayer and so CSRF too; exempt paths
// (csrf.exemptPaths) are matched exactly.

// csrfBefore runs the session-free checks. It reports whether it answered
// the request, and whether the token must still be checked.
func csrfBefore(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch) (answered, needToken bool) {
	verdict, reason := csrfEarly(m.csrf, req, route.path)
	switch verdict {
	case csrfReject:
		return csrfFailed(m, rw, req, route, &authResult{}, reason), false
	case csrfNeedToken:
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
	if c := csrfIssue(m.csrf, req, binding); c != "" {
		cp := *res
		cp.setCookies = append(append(make([]string, 0, len(res.setCookies)+1), res.setCookies...), c)
		res = &cp
	}
	if needToken && !csrfTokenValid(m.csrf, req, binding) {
		return csrfFailed(m, rw, req, route, res, "token"), res
	}
	return false, res
}

// csrfBinding ties tokens to the session: a token minted for another
// session (another user, or the guest before login) fails.
func csrfBinding(res *authResult) string {
	if res.id == nil || res.id.userID == "" {
		return ""
	}
	return res.id.tokenType + ":" + res.id.userID
}

// csrfFailed logs the failure and, unless in report-only mode, answers 403
// with next-api-layer's message. It reports whether it answered.
func csrfFailed(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, res *authResult, reason string) bool {
	record(m, req, eventCSRFFail, res.id, res.token, false, reason, http.StatusForbidden)
	if m.csrf.reportOnly {
		log.Printf("authlayer: %s: CSRF check failed (%s), allowed by csrf.reportOnly", m.name, reason)
		return false
	}
	rw.Header().Add("Vary", "Sec-Fetch-Site")
	rw.Header().Add("Vary", "Origin")
	deny(m, rw, req, route, res, http.StatusForbidden, "CSRF validation failed")
	return true
}

// csrfSafeRequest reports whether req needs no CSRF check at all: a safe
// method without an override (or exempt), as csrfEarly judges it. Without
// a query that could spell an override and without any header outside
// the common set (unusual, from stripIdentityHeaders), a safe method cannot
// carry an override.
func csrfSafeRequest(g *csrfGuard, req *http.Request, canonicalPath string, unusual bool) bool {
	if !unusual && csrfSafeMethods[req.Method] {
		q := req.URL.RawQuery
		if q == "" || (strings.IndexByte(q, '%') < 0 && !strings.Contains(strings.ToLower(q), "method")) {
			return true // as csrfEarly: no query override is spelled without "%" or "method"
		}
	}
	verdict, _ := csrfEarly(g, req, canonicalPath)
	return verdict == csrfPass
}
