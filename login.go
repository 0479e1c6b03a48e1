package authlayer

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/url"

	"github.com/authlayer/authlayer/internal/csrf"
	"github.com/authlayer/authlayer/internal/jsonpath"
	"github.com/authlayer/authlayer/internal/ratelimit"
)

// endpoints.login: the browser posts its credentials here (JSON, or an
// HTML form); authlayer forwards them to backend.loginPath as JSON, reads
// the tokens with responses.accessToken and responses.refreshToken, sets
// the cookies with its own attributes (the guest cookie cleared), and
// answers with the backend's JSON minus every token (a script), or a
// redirect to the safe return-to value (a form). No token ever reaches
// the page: the cookies are HttpOnly.
//
// Failures pass the backend's status and message through (a form goes
// back to the login page with ?error=…); a backend that cannot answer is
// a 503. With rate limiting on, every attempt spends the client's
// rateLimit.logins budget.

// Login error codes sent back to a login form page (?error=…).
const (
	loginErrInvalid     = "invalid_credentials"
	loginErrRequest     = "invalid_request"
	loginErrLimited     = "too_many_attempts"
	loginErrUnavailable = "unavailable"
)

// loginAttempt is one login request on its way through the endpoint.
type loginAttempt struct {
	m        *middleware
	rw       http.ResponseWriter
	req      *http.Request
	route    *routeMatch
	res      *authResult // the request's session before the login
	form     bool        // an HTML form: answered with redirects
	returnTo string      // the way back, as the client asked for it
	client   string      // the rate-limit and call-slot key
}

func serveLogin(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, res *authResult) {
	if !endpointMethod(m, rw, req, route, res, http.MethodPost) {
		return
	}
	a := &loginAttempt{m: m, rw: rw, req: req, route: route, res: res, form: isFormPost(req)}
	body, returnTo, status := loginRequest(m, req, a.form)
	a.returnTo = returnTo
	if status != 0 {
		loginFailed(a, status, nil, "bad-request")
		return
	}
	a.client = ratelimit.ClientKey(m.state.limiter, req)
	if m.state.limiter != nil && loginLimited(a) {
		return
	}
	ctx, cancel := context.WithDeadline(req.Context(), requestDeadline(m, req))
	ans, err := loginCall(m.state.backend, ctx, a.client, m.s.backend.loginURL, body)
	cancel()
	healthReport(m.state.backend.health, "login", m.s.backend.loginURL, loginCause(m, ans, err))
	if err != nil {
		loginFailed(a, http.StatusServiceUnavailable, nil, "backend-unavailable")
		return
	}
	access, rotated, status := loginTokens(m, ans)
	if status == http.StatusServiceUnavailable {
		loginFailed(a, status, nil, "backend-unavailable")
		return
	}
	if status != 0 {
		loginFailed(a, status, ans.doc, "rejected")
		return
	}
	loginSucceeded(a, ans.doc, access, rotated)
}

// loginCall sends the login to the backend: the browser's fields as JSON,
// or as the login's request shape says (requestshape.go: {username} and
// {password} are the form's fields of those names).
func loginCall(b *backendClient, ctx context.Context, client, url string, body []byte) (backendAnswer, error) {
	sh := shapeFor(b, "login")
	if sh == nil {
		return backendCall(b, ctx, client, http.MethodPost, url, "", body)
	}
	var fields map[string]interface{}
	_ = json.Unmarshal(body, &fields)
	vals := &shapeValues{}
	vals.username, _ = fields["username"].(string)
	vals.password, _ = fields["password"].(string)
	return backendCallShaped(b, ctx, client, sh, url, vals, body)
}

// loginLimited spends the client's rateLimit.logins budget; over it, the
// attempt is answered (a form goes back to the login page) and it
// reports true.
func loginLimited(a *loginAttempt) bool {
	refused := spendBudget(a.m, ratelimit.BudgetLogins, a.client)
	if refused == nil {
		return false
	}
	record(a.m, a.req, eventRateLimitExceeded, auditEntry{reason: "logins", status: http.StatusTooManyRequests})
	if a.form {
		loginFailed(a, http.StatusTooManyRequests, nil, "rate-limited")
		return true
	}
	writeSessionHeaders(a.rw, a.res)
	answerRateLimited(a.m, a.rw, a.req, a.route, *refused)
	return true
}

// loginRequest reads the credentials: a JSON object as is, or a form's
// fields as a JSON object of strings (the return-to field left out). It
// returns the JSON to send, the return-to value, and a status when the
// request cannot be sent (400, 413, 415).
func loginRequest(m *middleware, req *http.Request, form bool) ([]byte, string, int) {
	returnTo := req.URL.Query().Get(m.s.routes.returnTo)
	if !form && requestBodyKind(req) != bodyJSON {
		return nil, returnTo, http.StatusUnsupportedMediaType
	}
	raw, err := io.ReadAll(io.LimitReader(req.Body, m.s.endpoints.maxBodyBytes+1))
	if err != nil {
		return nil, returnTo, http.StatusBadRequest
	}
	if int64(len(raw)) > m.s.endpoints.maxBodyBytes {
		return nil, returnTo, http.StatusRequestEntityTooLarge
	}
	if !form {
		doc, ok := jsonpath.Decode(raw).(map[string]interface{})
		if !ok {
			return nil, returnTo, http.StatusBadRequest
		}
		out, _ := json.Marshal(doc)
		return out, returnTo, 0
	}
	values, err := url.ParseQuery(string(raw))
	if err != nil {
		return nil, returnTo, http.StatusBadRequest
	}
	if v := values.Get(m.s.routes.returnTo); v != "" {
		returnTo = v
	}
	fields := map[string]string{}
	for k, vs := range values {
		if k != m.s.routes.returnTo && len(vs) > 0 {
			fields[k] = vs[0]
		}
	}
	out, _ := json.Marshal(fields)
	return out, returnTo, 0
}

// loginTokens reads the tokens from the backend's answer, or returns the
// status to answer with: the backend's own 4xx, 401 for success false,
// 503 for anything that is not the contract's answer.
func loginTokens(m *middleware, ans backendAnswer) (access, rotated string, status int) {
	switch {
	case transientStatus(ans.status) || ans.status < 200 || (ans.status >= 300 && ans.status < 400):
		return "", "", http.StatusServiceUnavailable
	case ans.status >= 400:
		return "", "", ans.status
	}
	switch answerSuccess(m.state.backend, ans.doc) {
	case answerNo:
		return "", "", http.StatusUnauthorized
	case answerMalformed:
		return "", "", http.StatusServiceUnavailable
	}
	access, rotated, ok := answerTokens(m.state.backend, ans.doc)
	if !ok {
		return "", "", http.StatusServiceUnavailable
	}
	return access, rotated, 0
}

// loginSucceeded validates the new token (so the next request is a cache
// hit, and a token the backend would refuse is never set), sets the
// cookies and answers.
func loginSucceeded(a *loginAttempt, doc interface{}, access, rotated string) {
	m, req := a.m, a.req
	// The backend just issued these for good credentials: a stateless
	// backend can hand back a token string logged out a moment ago (the
	// same claims in the same second), which must open the new session.
	unmarkLoggedOut(access)
	unmarkLoggedOut(rotated)
	clusterUnmark(m.state.cluster, access, rotated)
	f := &flow{m: m, s: m.s, state: m.state, req: req, route: a.route, deadline: requestDeadline(m, req), client: a.client}
	v, _ := flowValidate(f, access, false)
	if v.state == stateInvalid || (v.state == stateValid && !acceptsAsUser(m.s, v.id.tokenType)) {
		log.Printf("authlayer: %s: the backend's login answer holds a token that is not a user session", m.name)
		loginFailed(a, http.StatusServiceUnavailable, nil, "token-not-a-user")
		return
	}
	out := &authResult{id: v.id, token: access, loggedIn: v.state == stateValid}
	out.setCookies = loginCookies(m, req, access, rotated, v.id)
	warnSecureCookiesOverHTTP(m, req)
	record(m, req, eventAuthLogin, auditEntry{who: v.id, token: access, success: true})
	if a.form {
		redirect(a.rw, req, out, afterLogin(m, a.returnTo))
		return
	}
	writeSessionHeaders(a.rw, out)
	writeJSON(a.rw, http.StatusOK, withoutTokens(doc, access, rotated))
}

// afterLogin is where a form login goes: the return-to value when it is a
// local path that is neither an auth-only page nor the login page itself
// (no loops), else routes.homeUrl.
func afterLogin(m *middleware, returnTo string) string {
	target := returnToTarget(m, url.Values{m.s.routes.returnTo: {returnTo}})
	if p, ok := localPathOf(target); ok {
		if login, isLocal := localPathOf(m.s.routes.loginURL); isLocal && canonicalPath(p) == canonicalPath(login) {
			return m.s.routes.homeURL
		}
	}
	return target
}

// loginCookies are the new session's cookies: the user (and refresh)
// token, the expiry hint, a CSRF token bound to the new session, and
// every other auth cookie cleared, carried or not. A login without a
// refresh token (no "remember me") clears the refresh cookie: kept, it
// would silently become the previous user's session (a shared computer)
// or one planted from a sibling subdomain when the new token expires.
func loginCookies(m *middleware, req *http.Request, access, rotated string, id *identity) []string {
	cs := &m.s.cookies
	cookies := appendCookie(nil, userCookieValue(cs, access))
	if cs.refresh != "" {
		refresh := buildCookie(cs, cs.refresh, "", cs.refreshCookiePath, -1)
		if rotated != "" {
			refresh = refreshCookieValue(cs, rotated)
		}
		cookies = appendCookie(cookies, refresh)
	}
	if cs.hint != "" {
		hint := expiryHintCookie(cs, id)
		if hint == "" {
			hint = buildCookie(cs, cs.hint, "", cs.path, -1)
		}
		cookies = appendCookie(cookies, hint)
	}
	cookies = append(cookies, buildCookie(cs, cs.guest, "", cs.path, -1))
	if m.csrf != nil && id != nil {
		cookies = appendCookie(cookies, csrf.Issue(m.csrf, req, csrf.Binding(id.tokenType, id.userID)))
	}
	return cookies
}

// loginFailed answers a failed login: a form goes back to the login page
// with an error code and its return-to value; a script gets the status
// and the backend's JSON (minus anything token-like) or a short message.
func loginFailed(a *loginAttempt, status int, doc interface{}, reason string) {
	record(a.m, a.req, eventAuthLoginFail, auditEntry{reason: reason, status: status})
	if a.form {
		redirect(a.rw, a.req, a.res, loginErrorURL(a.m, status, a.returnTo))
		return
	}
	writeSessionHeaders(a.rw, a.res)
	if body, ok := doc.(map[string]interface{}); ok {
		writeJSON(a.rw, status, withoutTokens(body, "", ""))
		return
	}
	writeJSONError(a.rw, status, loginMessage(status))
}

func loginMessage(status int) string {
	switch status {
	case http.StatusServiceUnavailable:
		return "Authentication service unavailable"
	case http.StatusRequestEntityTooLarge:
		return "Login request too large"
	case http.StatusUnsupportedMediaType:
		return "Login requests are JSON or a form"
	case http.StatusBadRequest:
		return "Invalid login request"
	case http.StatusTooManyRequests:
		return "Too many login attempts. Please try again later."
	}
	return "Login failed"
}

// loginErrorURL is the login page with an error code and the return-to
// value (kept only when it is a local path).
func loginErrorURL(m *middleware, status int, returnTo string) string {
	code := loginErrInvalid
	switch status {
	case http.StatusTooManyRequests:
		code = loginErrLimited
	case http.StatusServiceUnavailable:
		code = loginErrUnavailable
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		code = loginErrRequest
	}
	target := withQueryParam(m.s.routes.loginURL, "error", code)
	if isLocalPath(returnTo) {
		target = withQueryParam(target, m.s.routes.returnTo, returnTo)
	}
	return target
}
