package authlayer

import (
	"context"
	"errors"
	"log"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authlayer/authlayer/internal/jwt"
)

// Backend health.
//
// Without this, an unreachable or misbehaving auth backend is silent
// (guests and audit off) or logged without the URL or the cause. Every
// backend call ends with healthReport: the endpoint ("validate",
// "refresh", "guest", "login", "logout", "jwks"), its URL, and the cause
// of failure ("" when the answer was usable). One line is logged when an
// endpoint starts failing, when the cause changes, and when it recovers;
// a steady state logs nothing. A backend flapping faster than
// healthLogGap gets at most one line per endpoint per gap, saying how
// many changes it left out (the state is logged on the first call after
// the gap).
//
// Lines name the URL without its query, fragment or credentials, and the
// cause class only: never an error's text (which may hold a URL), a
// header or a token.

// healthLogGap spaces the lines of one endpoint.
const healthLogGap = time.Second

// The cause classes of a failed backend call.
const (
	causeRefused   = "connection refused"
	causeTimeout   = "timeout"
	causeTLS       = "TLS error"
	causeDNS       = "host not found"
	causeClosed    = "connection closed before an answer"
	causeNetwork   = "network error"
	causeRedirect  = "redirect (3xx), not followed"
	causeCutOff    = "answer cut off"
	causeNotJSON   = "body not JSON"
	causeContract  = "answer not the contract's (a field missing or of the wrong type)"
	causeNoKeys    = "no usable key in the answer"
	causeCanceled  = "canceled" // the waiting client went away: says nothing about the backend
	causeSaturated = "no free call slot"
)

// Sentinel errors of a failed round trip, one per cause class, so the
// class survives to the caller without wrapping (Yaegi ignores an
// interpreted Unwrap) and an error printed with %v names it.
var (
	errBackendRefused  = errors.New("auth backend unavailable: " + causeRefused)
	errBackendTimeout  = errors.New("auth backend unavailable: " + causeTimeout)
	errBackendTLS      = errors.New("auth backend unavailable: " + causeTLS)
	errBackendDNS      = errors.New("auth backend unavailable: " + causeDNS)
	errBackendClosed   = errors.New("auth backend unavailable: " + causeClosed)
	errBackendNetwork  = errors.New("auth backend unavailable: " + causeNetwork)
	errBackendCutOff   = errors.New("auth backend unavailable: " + causeCutOff)
	errBackendCanceled = errors.New("auth backend call canceled")
)

// transportError classifies what RoundTrip returned (never nil) into one
// of the sentinel errors. It reads the error's text only to classify it.
func transportError(err error) error {
	if errors.Is(err, context.Canceled) {
		return errBackendCanceled
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errBackendTimeout
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "connection refused"):
		return errBackendRefused
	case strings.Contains(msg, "timeout") || strings.Contains(msg, "deadline exceeded"):
		return errBackendTimeout
	case strings.Contains(msg, "tls:") || strings.Contains(msg, "x509:") || strings.Contains(msg, "certificate") ||
		strings.Contains(msg, "HTTP response to HTTPS client"):
		return errBackendTLS
	case strings.Contains(msg, "no such host") || strings.Contains(msg, "server misbehaving"):
		return errBackendDNS
	case strings.Contains(msg, "EOF") || strings.Contains(msg, "connection reset") || strings.Contains(msg, "broken pipe") ||
		strings.Contains(msg, "closed"):
		return errBackendClosed
	case strings.Contains(msg, "canceled"):
		return errBackendCanceled
	}
	return errBackendNetwork
}

// bodyError classifies a failure to read an answer's body.
func bodyError(err error) error {
	if e := transportError(err); e == errBackendTimeout || e == errBackendCanceled {
		return e
	}
	return errBackendCutOff
}

// errorCause is the cause class of an error returned by backendCall or
// roundTrip.
func errorCause(err error) string {
	switch err {
	case errBackendRefused:
		return causeRefused
	case errBackendTimeout:
		return causeTimeout
	case errBackendTLS:
		return causeTLS
	case errBackendDNS:
		return causeDNS
	case errBackendClosed:
		return causeClosed
	case errBackendCutOff:
		return causeCutOff
	case errBackendRedirect:
		return causeRedirect
	case errBackendCanceled:
		return causeCanceled
	case errBackendUnavailable:
		return causeSaturated // backendCall's own refusal: no slot within the deadline
	}
	return causeNetwork
}

// callCause judges one backend call by what any endpoint must give: an
// answer, not a redirect, not a 5xx, 408 or 429, and a JSON body when the
// status is 2xx. "" when it did.
func callCause(ans backendAnswer, err error) string {
	switch {
	case err != nil:
		return errorCause(err)
	case transientStatus(ans.status):
		return "status " + strconv.Itoa(ans.status)
	case is2xx(ans.status) && ans.doc == nil:
		return causeNotJSON
	}
	return ""
}

// answerCause is the cause for a call whose caller judged the answer
// (failed: not usable, and not a clear refusal of the credential): the
// call's own cause, else the status, else a 2xx that is not the contract.
func answerCause(ans backendAnswer, err error, failed bool) string {
	if !failed {
		return ""
	}
	if c := callCause(ans, err); c != "" {
		return c
	}
	if !is2xx(ans.status) {
		return "status " + strconv.Itoa(ans.status)
	}
	return causeContract
}

// backendHealth is the health of one backend client's endpoints (or of
// one JWKS), shared by the instances using it.
type backendHealth struct {
	name string                                   // the middleware's name, for the log prefix
	logf func(format string, args ...interface{}) // log.Printf; tests capture it
	gap  time.Duration

	mu        sync.Mutex
	endpoints map[string]*endpointHealth
}

// endpointHealth is one endpoint's state as last logged, and what has
// happened since.
type endpointHealth struct {
	logged   string    // cause in the last line; "" healthy (the start: nothing logged)
	loggedAt time.Time // zero before the first line
	failedAt time.Time // when the failure the lines describe began
	current  string    // cause of the last report
	changes  int       // changes of current since the last line
}

func newBackendHealth(name string) *backendHealth {
	return &backendHealth{name: name, logf: log.Printf, gap: healthLogGap, endpoints: map[string]*endpointHealth{}}
}

// healthReport records the outcome of one call to endpoint at rawURL
// (cause "" when usable) and logs a change of state. A nil h, and the
// causes that say nothing about the backend (a canceled caller, no free
// call slot), record nothing.
func healthReport(h *backendHealth, endpoint, rawURL, cause string) {
	if h == nil || cause == causeCanceled || cause == causeSaturated {
		return
	}
	h.mu.Lock()
	e := h.endpoints[endpoint]
	if e != nil && cause == e.current && cause == e.logged {
		h.mu.Unlock() // the steady state: the usual call costs this much
		return
	}
	now := time.Now()
	if e == nil {
		e = &endpointHealth{}
		h.endpoints[endpoint] = e
	}
	if cause != e.current {
		e.current = cause
		e.changes++
	}
	if cause == e.logged || (!e.loggedAt.IsZero() && now.Sub(e.loggedAt) < h.gap) {
		h.mu.Unlock()
		return
	}
	was, changes, failedAt := e.logged, e.changes, e.failedAt
	if was == "" {
		e.failedAt = now
	}
	e.logged, e.loggedAt, e.changes = cause, now, 0
	h.mu.Unlock()
	h.logf("%s", healthLine(h.name, endpoint, rawURL, cause, was, changes, now.Sub(failedAt)))
}

// healthLine is the log line for a change from was to cause.
func healthLine(name, endpoint, rawURL, cause, was string, changes int, failedFor time.Duration) string {
	what := "auth backend " + endpoint + " endpoint "
	if endpoint == "jwks" {
		what = "JWKS endpoint "
	}
	line := "authlayer: " + name + ": " + what + logURL(rawURL)
	switch {
	case cause == "":
		line += " recovered after " + failedFor.Round(time.Second).String() + " (was: " + was + ")"
	case was == "":
		line += " is failing: " + cause
	default:
		line += " is failing: " + cause + " (was: " + was + ")"
	}
	if changes > 1 {
		line += "; " + strconv.Itoa(changes) + " changes since the last line"
	}
	return line
}

// logURL is rawURL without credentials, query or fragment (a JWKS URL may
// carry a key in its query).
func logURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

// loginCause judges a login call as the login endpoint does
// (loginTokens): only an answer it turns into a 503 is the backend
// failing; a refusal (wrong password) is an answer.
func loginCause(m *middleware, ans backendAnswer, err error) string {
	if err != nil {
		return errorCause(err)
	}
	_, _, status := loginTokens(m, ans)
	return answerCause(ans, nil, status == http.StatusServiceUnavailable)
}

// logoutCause judges a logout call: any answer but a 5xx, 408 or 429 is
// one (a logout needs no body, a 4xx says the token was already gone).
func logoutCause(ans backendAnswer, err error) string {
	return answerCause(ans, err, err != nil || transientStatus(ans.status))
}

// jwksFetcher is how a JWKS (internal/jwt) fetches: on the backend's
// transport through roundTrip (a redirect is a failed fetch, never
// followed; the body read through a limit), each fetch reported to h as
// the "jwks" endpoint at rawURL.
func jwksFetcher(h *backendHealth, rawURL string, transport http.RoundTripper) jwt.Fetcher {
	get := func(req *http.Request, limit int64) (int, []byte, error) {
		status, body, err := roundTrip(transport, req, limit)
		return status, body, err
	}
	report := func(status int, err error, keys int) {
		healthReport(h, "jwks", rawURL, jwksCause(status, err, keys))
	}
	return jwt.Fetcher{Get: get, Report: report}
}

// jwksCause is why a JWKS fetch gave no keys (the last good keys are kept
// meanwhile), "" when it gave some.
func jwksCause(status int, err error, keys int) string {
	if err != nil {
		return errorCause(err)
	}
	if status != http.StatusOK {
		return "status " + strconv.Itoa(status)
	}
	if keys == 0 {
		return causeNoKeys + " (the last good keys are kept)"
	}
	return ""
}
