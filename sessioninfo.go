package authlayer

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
)

// endpoints.session (GET): what a front end's auth provider polls, since
// its scripts cannot read the HttpOnly cookies. The session comes from
// the token flow like any request's (a cache hit costs no backend call;
// an expired token is refreshed here, its cookies set on this answer).
// The token itself is never in the answer.

// sessionInfo is the answer's shape.
type sessionInfo struct {
	Authenticated bool            `json:"authenticated"`
	TokenType     interface{}     `json:"tokenType"` // string, or null without a session
	User          json.RawMessage `json:"user"`      // the user object, or null
	ExpiresAt     interface{}     `json:"expiresAt"` // Unix seconds, or null
}

func serveSessionInfo(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, res *authResult) {
	if !endpointMethod(m, rw, req, route, res, http.MethodGet, http.MethodHead) {
		return
	}
	if res.transient && res.id == nil {
		deny(m, rw, req, route, res, http.StatusServiceUnavailable, "Authentication service unavailable")
		return
	}
	writeSessionHeaders(rw, res)
	writeJSON(rw, http.StatusOK, sessionOf(res))
}

func sessionOf(res *authResult) sessionInfo {
	info := sessionInfo{Authenticated: res.loggedIn, User: json.RawMessage("null")}
	id := res.id
	if id == nil {
		return info
	}
	if id.tokenType != "" {
		info.TokenType = id.tokenType
	}
	if len(id.userValues) == 1 {
		if raw, err := base64.StdEncoding.DecodeString(id.userValues[0]); err == nil {
			info.User = raw
		}
	}
	if !id.expiresAt.IsZero() {
		info.ExpiresAt = id.expiresAt.Unix()
	}
	return info
}
