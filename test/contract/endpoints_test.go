package contract

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
)

// authlayer's login, logout and session endpoints, proactive refresh and
// the expiry hint cookie.

const (
	loginPath   = "/auth/login"
	logoutPath  = "/auth/logout"
	sessionPath = "/auth/session"
	hintCookie  = "authExpires"
)

func endpointOpts(e *env, extra ...m) m {
	base := []m{{
		"endpoints": m{"login": loginPath, "logout": logoutPath, "session": sessionPath},
		"cookies":   m{"refresh": testkit.RefreshCookie},
		"routes":    m{"protected": testkit.List("/dashboard", "/api/me")},
	}}
	return e.opts(append(base, extra...)...)
}

// loginUser programs a backend login for alice and returns her tokens and
// user object.
//
// The tokens are new on every call: a logout marks its tokens for the whole
// process (every middleware of the plugin), so no two tests may share one.
func loginUser(e *env, label string) (access, refresh string, user map[string]interface{}) {
	n := strconv.FormatInt(loginSeq.Add(1), 10)
	access, refresh = fakebackend.Token(label+"-access-"+n), fakebackend.Token(label+"-refresh-"+n)
	user = fakebackend.UserData("u-"+label, "user", nil)
	user["exp"] = time.Now().Add(time.Hour).Unix()
	e.be.SetUser(access, user)
	e.be.SetLogin(label, "secret-"+label, fakebackend.LoggedIn(access, refresh, user))
	return access, refresh, user
}

var loginSeq atomic.Int64

func jsonLogin(label, password string) testkit.Request {
	return testkit.API(loginPath).With(http.MethodPost).WithBody("application/json", `{"username":"`+label+`","password":"`+password+`"}`)
}

func wantNoTokenIn(t *testing.T, what, text string, tokens ...string) {
	t.Helper()
	for _, tok := range tokens {
		if tok != "" && strings.Contains(text, tok) {
			t.Errorf("%s holds a token: %q", what, text)
		}
	}
}

// TestLoginJSON: a script's login sets HttpOnly cookies, clears the guest
// cookie, and answers the backend's JSON without any token; the token was
// validated once and the next request is a cache hit.
func TestLoginJSON(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, endpointOpts(e, e.guestOpts()))
		access, refresh, user := loginUser(e, "alice")
		guest := e.do(t, h, testkit.Page("/"))
		guestTok := guest.SetCookies(testkit.GuestCookie)[0].Value

		r := e.do(t, h, jsonLogin("alice", "secret-alice").Cookie(testkit.GuestCookie, guestTok))
		if r.Code != http.StatusOK || r.Upstream != nil {
			t.Fatalf("login: got %d (forwarded %v) body %s", r.Code, r.Upstream != nil, r.Body)
		}
		wantNoTokenIn(t, "the login answer", r.Body, access, refresh)
		var body struct {
			Success bool `json:"success"`
			Data    struct {
				User map[string]interface{} `json:"user"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil || !body.Success || body.Data.User["id"] != "u-alice" {
			t.Errorf("login answer: %s (%v), want the backend's success and user", r.Body, err)
		}
		c := testkit.WantCookieSet(t, r, testkit.UserCookie, access)
		if !c.HttpOnly {
			t.Error("the user cookie is not HttpOnly")
		}
		testkit.WantCookieSet(t, r, testkit.RefreshCookie, refresh)
		testkit.WantCookieCleared(t, r, testkit.GuestCookie)
		testkit.WantNoStore(t, r)
		calls := e.be.Calls(fakebackend.Login)
		if len(calls) != 1 || calls[0].Body != `{"password":"secret-alice","username":"alice"}` || calls[0].Authorization != "" {
			t.Errorf("backend login calls: %+v", calls)
		}
		validations := e.be.Count(fakebackend.Validate)
		testkit.WantIdentity(t, e.do(t, h, testkit.Page("/dashboard").Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh)), access, user, "u-alice", "user", "")
		if got := e.be.Count(fakebackend.Validate) - validations; got != 0 {
			t.Errorf("validations after login: %d, want 0 (validated at login)", got)
		}
	})
}

// TestLoginForm: a form post is answered with a redirect to its safe
// return-to value; a failed one goes back to the login page with an error
// code and the return-to value.
func TestLoginForm(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, endpointOpts(e))
		access, _, _ := loginUser(e, "bob")
		form := func(pw, redirect string) testkit.Request {
			v := url.Values{"username": {"bob"}, "password": {pw}, "redirect": {redirect}}
			return testkit.Page(loginPath).With(http.MethodPost).WithBody("application/x-www-form-urlencoded", v.Encode())
		}
		r := e.do(t, h, form("secret-bob", "/dashboard?tab=2"))
		if r.Code != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard?tab=2" {
			t.Errorf("form login: got %d Location %q, want 303 /dashboard?tab=2", r.Code, r.Header.Get("Location"))
		}
		testkit.WantCookieSet(t, r, testkit.UserCookie, access)
		wantNoTokenIn(t, "the form login answer", r.Body, access)
		if calls := e.be.Calls(fakebackend.Login); len(calls) != 1 || strings.Contains(calls[0].Body, "redirect") {
			t.Errorf("the form's return-to field was sent to the backend: %+v", calls)
		}
		for _, evil := range []string{"//evil.test/x", "https://evil.test", "/\\evil.test", "/login"} {
			r := e.do(t, h, form("secret-bob", evil))
			if loc := r.Header.Get("Location"); loc != "/" {
				t.Errorf("return-to %q: Location %q, want /", evil, loc)
			}
		}
		r = e.do(t, h, form("wrong", "/dashboard"))
		if r.Code != http.StatusSeeOther || r.Header.Get("Location") != "/login?error=invalid_credentials&redirect=%2Fdashboard" {
			t.Errorf("failed form login: got %d Location %q", r.Code, r.Header.Get("Location"))
		}
		if len(r.SetCookies(testkit.UserCookie)) != 0 {
			t.Error("a failed login set the user cookie")
		}
	})
}

// TestLoginFailures: the backend's status and message pass through; a
// backend that cannot answer is a 503; bad requests are refused before
// any backend call; nothing sets a session cookie.
func TestLoginFailures(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, endpointOpts(e, m{"endpoints": m{"maxBodyBytes": "200"}, "backend": m{"timeout": "500ms"}}))
		loginUser(e, "carol")
		cases := []struct {
			desc   string
			setup  func()
			rq     testkit.Request
			status int
			calls  int
		}{
			{"wrong password: the backend's 401 and message", nil, jsonLogin("carol", "nope"), http.StatusUnauthorized, 1},
			{"success false", func() {
				e.be.SetLogin("carol", "f", fakebackend.Answer{JSON: map[string]interface{}{"success": false, "message": "locked"}})
			}, jsonLogin("carol", "f"), http.StatusUnauthorized, 1},
			{"backend 500", func() { e.be.SetLogin("carol", "500", fakebackend.Status(500)) }, jsonLogin("carol", "500"), http.StatusServiceUnavailable, 1},
			{"backend 2xx garbage", func() { e.be.SetLogin("carol", "g", fakebackend.Garbage()) }, jsonLogin("carol", "g"), http.StatusServiceUnavailable, 1},
			{"backend 2xx without a token", func() {
				e.be.SetLogin("carol", "nt", fakebackend.Answer{JSON: map[string]interface{}{"success": true, "data": map[string]interface{}{}}})
			}, jsonLogin("carol", "nt"), http.StatusServiceUnavailable, 1},
			{"backend hangs", func() { e.be.SetLogin("carol", "hang", fakebackend.Hang()) }, jsonLogin("carol", "hang"), http.StatusServiceUnavailable, 1},
			{"token the backend does not validate", func() {
				e.be.SetLogin("carol", "bad", fakebackend.LoggedIn(fakebackend.Token("never-valid"), "", nil))
			}, jsonLogin("carol", "bad"), http.StatusServiceUnavailable, 1},
			{"body too large", nil, testkit.API(loginPath).With(http.MethodPost).WithBody("application/json", `{"username":"`+strings.Repeat("x", 300)+`"}`), http.StatusRequestEntityTooLarge, 0},
			{"not JSON", nil, testkit.API(loginPath).With(http.MethodPost).WithBody("application/json", `username=carol`), http.StatusBadRequest, 0},
			{"other content type", nil, testkit.API(loginPath).With(http.MethodPost).WithBody("text/plain", `carol`), http.StatusUnsupportedMediaType, 0},
			{"GET", nil, testkit.API(loginPath), http.StatusMethodNotAllowed, 0},
		}
		for _, tc := range cases {
			t.Run(tc.desc, func(t *testing.T) {
				if tc.setup != nil {
					tc.setup()
				}
				before := e.be.Count(fakebackend.Login)
				r := e.do(t, h, tc.rq)
				testkit.WantJSONError(t, r, tc.status)
				if r.Upstream != nil {
					t.Error("the login request reached the app")
				}
				if len(r.SetCookies(testkit.UserCookie))+len(r.SetCookies(testkit.RefreshCookie)) != 0 {
					t.Errorf("a failed login set cookies: %q", r.Header.Values("Set-Cookie"))
				}
				if got := e.be.Count(fakebackend.Login) - before; got != tc.calls {
					t.Errorf("backend login calls: %d, want %d", got, tc.calls)
				}
				if tc.status == http.StatusMethodNotAllowed && r.Header.Get("Allow") != "POST" {
					t.Errorf("Allow: %q", r.Header.Get("Allow"))
				}
			})
		}
		r := e.do(t, h, jsonLogin("carol", "nope"))
		if !strings.Contains(r.Body, "Invalid username or password") {
			t.Errorf("the backend's message did not pass through: %s", r.Body)
		}
	})
}

// TestLoginBudgetAndCSRF: with rate limiting, each client has
// rateLimit.logins attempts per window; with CSRF, a cross-site login post
// is refused before any backend call.
func TestLoginBudgetAndCSRF(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		loginUser(e, "dave")
		h := e.handler(t, rateOpts(e, m{"logins": "2", "requests": "100"}, endpointOpts(e)))
		const client = "198.51.100.80"
		for i := 0; i < 2; i++ {
			testkit.WantJSONError(t, e.do(t, h, from(jsonLogin("dave", "wrong"), client)), http.StatusUnauthorized)
		}
		r := e.do(t, h, from(jsonLogin("dave", "secret-dave"), client))
		testkit.WantRateLimited(t, r)
		if e.be.Count(fakebackend.Login) != 2 {
			t.Errorf("backend login calls: %d, want 2", e.be.Count(fakebackend.Login))
		}
		if r := e.do(t, h, from(jsonLogin("dave", "secret-dave"), "198.51.100.81")); r.Code != http.StatusOK {
			t.Errorf("another client's login: %d", r.Code)
		}

		csrf := e.handler(t, endpointOpts(e, m{"csrf": m{"enabled": "true", "secret": strings.Repeat("k", 32)}}))
		before := e.be.Count(fakebackend.Login)
		r = e.do(t, csrf, jsonLogin("dave", "secret-dave").WithHeader("Sec-Fetch-Site", "cross-site"))
		testkit.WantJSONError(t, r, http.StatusForbidden)
		if e.be.Count(fakebackend.Login) != before {
			t.Error("a cross-site login reached the backend")
		}
		r = e.do(t, csrf, jsonLogin("dave", "secret-dave").WithHeader("Sec-Fetch-Site", "same-origin"))
		if r.Code != http.StatusOK {
			t.Fatalf("same-origin login: %d %s", r.Code, r.Body)
		}
		if len(r.SetCookies("__csrf")) != 1 {
			t.Errorf("login issued no CSRF token for the new session: %q", r.Header.Values("Set-Cookie"))
		}
	})
}

// TestLogout: the backend is told, every auth cookie is cleared, and the
// old cookies replayed here get no session, even though the backend would
// still validate the token.
func TestLogout(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, endpointOpts(e, m{"cookies": m{"expiryHint": hintCookie}}))
		access, refresh, user := loginUser(e, "erin")
		session := testkit.Page("/dashboard").Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh)
		testkit.WantIdentity(t, e.do(t, h, session), access, user, "u-erin", "user", "")
		testkit.WantIdentity(t, e.do(t, h, session), access, user, "u-erin", "user", "")

		r := e.do(t, h, testkit.API(logoutPath).With(http.MethodPost).Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
		if r.Code != http.StatusOK || strings.TrimSpace(r.Body) != `{"success":true}` {
			t.Fatalf("logout: %d %s", r.Code, r.Body)
		}
		for _, name := range []string{testkit.UserCookie, testkit.RefreshCookie, testkit.GuestCookie, hintCookie} {
			testkit.WantCookieCleared(t, r, name)
		}
		calls := e.be.Calls(fakebackend.Logout)
		if len(calls) != 1 || calls[0].Authorization != "Bearer "+access || !strings.Contains(calls[0].Body, refresh) {
			t.Errorf("backend logout calls: %+v", calls)
		}
		e.be.SetRefresh(refresh, fakebackend.Revoked())
		r = e.do(t, h, session)
		testkit.WantLoginRedirect(t, r, http.StatusFound, "/dashboard")
		if e.be.CountFor(fakebackend.Validate, access) != 1 {
			t.Errorf("validations of the logged-out token: %d, want 1 (the login's only)", e.be.CountFor(fakebackend.Validate, access))
		}
	})
}

// TestLogoutBackendDown: logout is best effort: the cookies go whatever
// the backend does, and a form gets its redirect.
func TestLogoutBackendDown(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, endpointOpts(e, m{"backend": m{"timeout": "300ms"}}))
		access, refresh, _ := loginUser(e, "finn")
		e.be.SetLogoutAnswer(fakebackend.Hang())
		start := time.Now()
		r := e.do(t, h, testkit.Page(logoutPath+"?redirect=/bye").With(http.MethodPost).
			WithBody("application/x-www-form-urlencoded", "").Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
		if r.Code != http.StatusSeeOther || r.Header.Get("Location") != "/bye" {
			t.Errorf("form logout with the backend hung: %d Location %q", r.Code, r.Header.Get("Location"))
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("logout took %s with a 300ms timeout", time.Since(start))
		}
		testkit.WantCookieCleared(t, r, testkit.UserCookie)
		testkit.WantCookieCleared(t, r, testkit.RefreshCookie)
		testkit.WantJSONError(t, e.do(t, h, testkit.API(logoutPath)), http.StatusMethodNotAllowed)
	})
}

// TestSessionEndpoint: the session as JSON, from the cache, never the
// token; anonymous is all nulls.
func TestSessionEndpoint(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, endpointOpts(e))
		access, _, user := loginUser(e, "gwen")
		r := e.do(t, h, testkit.API(sessionPath))
		if r.Code != http.StatusOK || strings.TrimSpace(r.Body) != `{"authenticated":false,"tokenType":null,"user":null,"expiresAt":null}` {
			t.Errorf("anonymous session: %d %s", r.Code, r.Body)
		}
		testkit.WantNoStore(t, r)
		for i := 0; i < 3; i++ {
			r = e.do(t, h, testkit.API(sessionPath).Cookie(testkit.UserCookie, access))
			if r.Upstream != nil {
				t.Fatal("the session endpoint reached the app")
			}
		}
		wantNoTokenIn(t, "the session answer", r.Body, access)
		var got struct {
			Authenticated bool                   `json:"authenticated"`
			TokenType     string                 `json:"tokenType"`
			User          map[string]interface{} `json:"user"`
			ExpiresAt     int64                  `json:"expiresAt"`
		}
		if err := json.Unmarshal([]byte(r.Body), &got); err != nil || !got.Authenticated || got.TokenType != "user" ||
			got.User["id"] != "u-gwen" || strconv.FormatInt(got.ExpiresAt, 10) != strconv.FormatInt(user["exp"].(int64), 10) {
			t.Errorf("session: %s (%v)", r.Body, err)
		}
		if n := e.be.CountFor(fakebackend.Validate, access); n != 1 {
			t.Errorf("validations for three session polls: %d, want 1", n)
		}
		testkit.WantJSONError(t, e.do(t, h, testkit.API(sessionPath).With(http.MethodPost)), http.StatusMethodNotAllowed)
	})
}

// TestProactiveRefresh: a token within refresh.proactiveWindow of its
// exp is refreshed on this request; a failed proactive refresh keeps the
// valid token; a token far from expiry is left alone.
func TestProactiveRefresh(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, endpointOpts(e, m{"refresh": m{"proactiveWindow": "60s"}, "cookies": m{"expiryHint": hintCookie}}))
		soon := fakebackend.Token("proactive-old")
		soonData := fakebackend.UserData("u-p", "user", nil)
		soonData["exp"] = time.Now().Add(30 * time.Second).Unix()
		e.be.SetUser(soon, soonData)
		next := fakebackend.Token("proactive-new")
		nextData := fakebackend.UserData("u-p", "user", nil)
		nextData["exp"] = time.Now().Add(time.Hour).Unix()
		e.be.RefreshTo("proactive-refresh", next, "proactive-refresh-2", nextData)

		r := e.do(t, h, testkit.Page("/dashboard").Cookie(testkit.UserCookie, soon).Cookie(testkit.RefreshCookie, "proactive-refresh"))
		testkit.WantIdentity(t, r, next, nextData, "u-p", "user", next)
		testkit.WantCookieSet(t, r, testkit.UserCookie, next)
		testkit.WantCookieSet(t, r, testkit.RefreshCookie, "proactive-refresh-2")
		hint := testkit.WantCookieSet(t, r, hintCookie, strconv.FormatInt(nextData["exp"].(int64), 10))
		if hint.HttpOnly {
			t.Error("the expiry hint is HttpOnly: scripts cannot read it")
		}
		wantNoTokenIn(t, "the expiry hint", hint.Value, next, soon)

		// The backend cannot refresh: the still-valid token is kept.
		failing := fakebackend.Token("proactive-failing")
		e.be.SetUser(failing, soonData)
		e.be.SetRefresh("refresh-failing", fakebackend.Status(http.StatusServiceUnavailable))
		r = e.do(t, h, testkit.Page("/dashboard").Cookie(testkit.UserCookie, failing).Cookie(testkit.RefreshCookie, "refresh-failing"))
		testkit.WantIdentity(t, r, failing, soonData, "u-p", "user", "")
		testkit.WantNoCookieClearing(t, r)
		if len(r.SetCookies(testkit.UserCookie)) != 0 {
			t.Error("a failed proactive refresh replaced the user cookie")
		}

		// Far from expiry: no refresh, and the hint is set once.
		far := fakebackend.Token("proactive-far")
		e.be.SetUser(far, nextData)
		before := e.be.Count(fakebackend.Refresh)
		r = e.do(t, h, testkit.Page("/dashboard").Cookie(testkit.UserCookie, far))
		testkit.WantCookieSet(t, r, hintCookie, strconv.FormatInt(nextData["exp"].(int64), 10))
		r = e.do(t, h, testkit.Page("/dashboard").Cookie(testkit.UserCookie, far).Cookie(hintCookie, strconv.FormatInt(nextData["exp"].(int64), 10)))
		testkit.WantNoSetCookie(t, r)
		if e.be.Count(fakebackend.Refresh) != before {
			t.Error("a token far from expiry was refreshed")
		}
	})
}

// TestEndpointsRefuseCrossSiteWithoutCSRF: with csrf off, login and
// logout still refuse what the browser marks as cross-site (a forged
// login into the attacker's account), before any backend call; the
// session endpoint (GET) is unaffected.
func TestEndpointsRefuseCrossSiteWithoutCSRF(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, endpointOpts(e))
		access, _, _ := loginUser(e, "hank")
		for _, rq := range []testkit.Request{
			jsonLogin("hank", "secret-hank").WithHeader("Sec-Fetch-Site", "cross-site"),
			jsonLogin("hank", "secret-hank").WithHeader("Origin", "https://evil.test"),
			testkit.API(logoutPath).With(http.MethodPost).Cookie(testkit.UserCookie, access).WithHeader("Sec-Fetch-Site", "cross-site"),
		} {
			r := e.do(t, h, rq)
			testkit.WantJSONError(t, r, http.StatusForbidden)
			if len(r.SetCookies(testkit.UserCookie)) != 0 {
				t.Errorf("a cross-site request changed the user cookie: %q", r.Header.Values("Set-Cookie"))
			}
		}
		if e.be.Count(fakebackend.Login)+e.be.Count(fakebackend.Logout) != 0 {
			t.Error("a cross-site request reached the backend")
		}
		if r := e.do(t, h, jsonLogin("hank", "secret-hank").WithHeader("Origin", "http://example.com")); r.Code != http.StatusOK {
			t.Errorf("same-origin login (Origin matches the Host): %d %s", r.Code, r.Body)
		}
	})
}
