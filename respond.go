package authlayer

import (
	"encoding/json"
	"net/http"
	"strings"
)

// The answers authlayer gives itself. Each carries the session's cookie
// changes and Cache-Control: no-store (a shared cache must never keep a
// response that sets or depends on a session cookie), and Vary: Cookie.

// isAPIRequest reports whether the client wants JSON rather than a page:
// a path under routes.api, or a client that does not accept HTML.
func isAPIRequest(req *http.Request, route *routeMatch) bool {
	return route.api || !strings.Contains(req.Header.Get("Accept"), "text/html")
}

func writeSessionHeaders(rw http.ResponseWriter, res *authResult) {
	h := rw.Header()
	for _, c := range res.setCookies {
		h.Add("Set-Cookie", c)
	}
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Cookie")
}

// deny answers an API client with JSON and a browser with a small page
// (errorpages.go: message itself never reaches the page).
func deny(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, res *authResult, status int, message string) {
	writeSessionHeaders(rw, res)
	if isAPIRequest(req, route) {
		writeJSONError(rw, status, message)
		return
	}
	writeErrorPage(m, rw, req, route, status, message, 0)
}

// jsonError is next-api-layer's error body, keys in its order.
type jsonError struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
}

func writeJSONError(rw http.ResponseWriter, status int, message string) {
	writeJSON(rw, status, jsonError{Message: message})
}

// writeJSON sends one of authlayer's own JSON answers.
func writeJSON(rw http.ResponseWriter, status int, body interface{}) {
	raw, err := json.Marshal(body)
	if err != nil {
		raw = []byte(`{"success":false,"message":"Internal error"}`)
		status = http.StatusInternalServerError
	}
	rw.Header().Set("Content-Type", "application/json; charset=utf-8")
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	rw.WriteHeader(status)
	_, _ = rw.Write(raw)
}

// redirect sends a browser elsewhere: 302 for GET and HEAD, 303 otherwise
// so a form post is not replayed at the target.
func redirect(rw http.ResponseWriter, req *http.Request, res *authResult, location string) {
	writeSessionHeaders(rw, res)
	rw.Header().Set("Location", location)
	rw.WriteHeader(redirectStatus(req))
}

func redirectStatus(req *http.Request) int {
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		return http.StatusFound
	}
	return http.StatusSeeOther
}
