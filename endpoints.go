package authlayer

import "net/http"

// authlayer's own session endpoints (endpoints.*): login, logout and
// session, exact paths answered here and never forwarded. (Being built:
// issue 10.)

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
	maxBodyBytes int64
}

func compileEndpoints(c *Config, s *settings) error {
	s.endpoints = endpointSettings{paths: map[string]endpointKind{}, maxBodyBytes: int64(c.Endpoints.MaxBodyBytes)}
	return nil
}

// serveEndpoint answers a request to one of the endpoints, after the rate
// limits, CSRF and the token flow have run (res is the session).
func serveEndpoint(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, res *authResult) {
	deny(m, rw, req, route, res, http.StatusNotFound, "Not found")
}
