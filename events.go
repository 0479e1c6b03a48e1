package authlayer

import (
	"net/http"

	"github.com/authlayer/authlayer/internal/ratelimit"
)

// Audit events of the request flow (the log itself is audit.go). Each call
// is cheap when the event is filtered out or the log is off: the record is
// built only after auditEnabled says it will be written. auth:success is
// written when a session is established with the backend (a cache miss, a
// refresh answer), not for every cached request.

// auditEntry is what one audit event says beyond the request itself;
// fields left out are the zero value (no identity, no token, a failure,
// no reason, no status).
type auditEntry struct {
	who     *identity // the session's identity when known
	token   string    // hashed (salted) when there is no user id
	success bool
	reason  string // why: a refusal's or a failure's code
	status  int    // the status authlayer answered with; 0 when it went on
}

// record writes one audit event about req. The path is the one the app
// receives, as sent (escaped), never a form authlayer derived from it: a
// log must not show a path the app never saw.
//
// Kept tiny (Yaegi allocates a function's whole frame on every call): with
// the log off or the event filtered out, nothing but the check runs.
func record(m *middleware, req *http.Request, event string, e auditEntry) {
	if m.audit != nil && m.audit.enabled[event] {
		recordEvent(m, req, event, e)
	}
}

func recordEvent(m *middleware, req *http.Request, event string, e auditEntry) {
	r := auditRecord{
		Event: event, IP: requestIP(m, req), Method: req.Method,
		Path: req.URL.EscapedPath(), Success: e.success, Reason: e.reason, Status: e.status,
	}
	if e.who != nil && e.who.userID != "" {
		r.UserID = e.who.userID
	} else {
		r.Token = e.token
	}
	audit(m.audit, r)
}

// requestIP is the client address the audit log and the rate limiter use
// (behind the proxies rateLimit.trustedProxies trusts; without rate
// limiting, the connection's peer).
func requestIP(m *middleware, req *http.Request) string {
	return ratelimit.ClientIP(m.state.limiter, req)
}
