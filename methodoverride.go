package authlayer

import "net/http"

// Method override for the upstream (methodOverride.*), and browser
// navigations to API paths (routes.blockBrowserApi). (Being built: issue
// 10.)

// methodOverrideSettings are the compiled methodOverride options.
type methodOverrideSettings struct {
	enabled bool // mode is not "off"
}

func compileMethodOverride(c *Config, s *settings) error {
	return nil
}

// applyMethodOverride rewrites an unsafe request for the upstream, after
// every check has seen its real method.
func applyMethodOverride(m *middleware, req *http.Request) {}

// blockedNavigation answers a browser's top-level navigation to an API
// path with a redirect home (routes.blockBrowserApi). It reports whether
// it answered.
func blockedNavigation(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch) bool {
	return false
}
