package authlayer

import (
	"github.com/authlayer/authlayer/internal/opts"
	"net/http"
	"strings"
)

// Browser navigations to API paths (routes.blockBrowserApi). An API answers
// scripts; a person who opens /api/orders in the address bar, or follows a
// link to it, is sent to routes.homeUrl instead of a page of raw JSON. It
// runs after the rate limits and before CSRF and the token flow: nothing
// about the session is needed to decide, and no backend call is made.
//
// A navigation is a GET or HEAD with "Sec-Fetch-Mode: navigate" (every
// current browser sends it, for address-bar visits, links and frames), or,
// from a client sending no Fetch Metadata at all, one accepting text/html.
// A fetch() or XMLHttpRequest sends "cors", "same-origin" or "no-cors" and
// passes. A form post is not a visit: a POST navigation to an API path
// (a plain HTML form posting to it) is left to the app, as is every other
// method.

// compileBrowserAPI refuses a home URL that is itself an API path when
// routes.blockBrowserApi is on: the redirect would be redirected again.
func compileBrowserAPI(_ *Config, s *settings) error {
	if !s.routes.blockBrowserAPI {
		return nil
	}
	if p, local := localPathOf(s.routes.homeURL); local && matchRoute(s.routes.table, p).api {
		return opts.Error("routes.homeUrl", "%s is an API path: with routes.blockBrowserApi a browser sent there would be redirected in a loop", p)
	}
	return nil
}

// blockedNavigation answers a browser's top-level navigation to an API
// path with a redirect home (routes.blockBrowserApi). It reports whether
// it answered.
func blockedNavigation(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch) bool {
	if (req.Method != http.MethodGet && req.Method != http.MethodHead) || !isNavigation(req.Header) {
		return false
	}
	record(m, req, eventAccessDenied, auditEntry{reason: "browser-navigation", status: redirectStatus(req)})
	rw.Header().Add("Vary", "Sec-Fetch-Mode")
	rw.Header().Add("Vary", "Accept")
	redirect(rw, req, &authResult{}, localizedTarget(m, route, m.s.routes.homeURL))
	return true
}

// isNavigation tells a browser's navigation from a script's request.
func isNavigation(h http.Header) bool {
	if mode, ok := h["Sec-Fetch-Mode"]; ok {
		return len(mode) == 1 && mode[0] == "navigate"
	}
	for _, v := range h["Accept"] {
		if strings.Contains(v, "text/html") {
			return true
		}
	}
	return false
}
