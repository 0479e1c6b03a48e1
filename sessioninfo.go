package authlayer

import (
	"encoding/base64"
	"encoding/json"
	"net/http"

	"github.com/authlayer/authlayer/internal/jsonpath"
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
	carried := cookiesRead(&m.s.cookies, req)
	writeJSON(rw, http.StatusOK, sessionOf(res, res.token, res.refreshed, carried.user, carried.refresh))
}

// sessionOf is the answer for res: the user object without any field
// holding a token (tokenscrub.go; tokens are the session's own).
func sessionOf(res *authResult, tokens ...string) sessionInfo {
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
			info.User = scrubbedJSON(raw, tokens)
		}
	}
	if !id.expiresAt.IsZero() {
		info.ExpiresAt = id.expiresAt.Unix()
	}
	return info
}

// scrubbedJSON is raw (a JSON object) without token-holding fields; null
// when it does not decode.
func scrubbedJSON(raw []byte, tokens []string) json.RawMessage {
	doc := jsonpath.Decode(raw)
	if doc == nil {
		return json.RawMessage("null")
	}
	out, err := json.Marshal(withoutTokens(doc, tokens...))
	if err != nil {
		return json.RawMessage("null")
	}
	return out
}
