package authlayer

import (
	"net/url"
	"strings"
)

// isLocalPath reports whether v is a path on this site that no browser
// would resolve to another host: it starts with a single "/" and holds no
// backslash, whitespace or control character ("/\evil", "/\t/evil" and
// "//evil" all lead off-site in browsers), no scheme, host or userinfo.
func isLocalPath(v string) bool {
	if len(v) == 0 || v[0] != '/' {
		return false
	}
	if len(v) > 1 && (v[1] == '/' || v[1] == '\\') {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return false
		}
	}
	u, err := url.Parse(v)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil && strings.HasPrefix(u.Path, "/")
}

// returnToTarget picks where a logged-in user leaving an auth-only page
// goes: the request's return-to value when it is local and not itself an
// auth-only page (that would loop), else homeUrl.
func returnToTarget(m *middleware, q url.Values) string {
	return returnToTargetFor(m, nil, q)
}

// returnToTargetFor is returnToTarget for a request on route: homeUrl
// keeps the locale prefix of the request's path (i18n.go); a return-to
// value is used as it is. route may be nil.
func returnToTargetFor(m *middleware, route *routeMatch, q url.Values) string {
	v := q.Get(m.s.routes.returnTo)
	if !isLocalPath(v) {
		return localizedTarget(m, route, m.s.routes.homeURL)
	}
	if p, _ := localPathOf(v); matchRoute(m.s.routes.table, p).kind == kindAuthOnly {
		return localizedTarget(m, route, m.s.routes.homeURL)
	}
	return v
}

// loginRedirect is the login URL carrying the original path and query;
// a local login URL keeps the locale prefix of the request's path
// (i18n.go).
func loginRedirect(m *middleware, route *routeMatch, requestURI string) string {
	return withQueryParam(localizedTarget(m, route, m.s.routes.loginURL), m.s.routes.returnTo, requestURI)
}

// withQueryParam appends key=value, escaped, to a URL that may already
// have a query.
func withQueryParam(target, key, value string) string {
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	return target + sep + url.QueryEscape(key) + "=" + url.QueryEscape(value)
}
