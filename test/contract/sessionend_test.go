package contract

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/jwtkit"
	"github.com/authlayer/authlayer/test/testkit"
)

// How sessions end whatever the backend does: a logout holds when the
// backend's logout is a no-op or fails, in every jwt.mode and token mode;
// marks survive floods and cover every middleware; a backend answering a
// redirect is "unavailable"; login leaves no cookie it did not issue;
// tokens never reach a page; endpoints use one deadline and no guest.

// sessionKind is one way a deployment checks tokens.
type sessionKind struct {
	name string
	// setup returns the options and a function making a valid access
	// token for sub (registered with the backend when it validates).
	setup func(t *testing.T, e *env) (m, func(sub string) (string, map[string]interface{}))
}

func backendTokens(e *env) func(sub string) (string, map[string]interface{}) {
	return func(sub string) (string, map[string]interface{}) {
		tok := fakebackend.Token(sub)
		data := fakebackend.UserData(sub, "user", nil)
		e.be.SetUser(tok, data)
		return tok, data
	}
}

func hs256Tokens(t *testing.T, e *env) func(sub string) (string, map[string]interface{}) {
	return func(sub string) (string, map[string]interface{}) {
		k := jwtkit.Generate(t)
		claims := jwtkit.Std(sub, "user")
		tok := jwtkit.Sign(t, "HS256", k.Signer("HS256"), "", claims)
		e.be.SetUser(tok, claims.Data(t)) // for the modes that ask the backend
		return tok, claims.Data(t)
	}
}

var sessionKinds = []sessionKind{
	{"backend", func(t *testing.T, e *env) (m, func(string) (string, map[string]interface{})) {
		return m{}, backendTokens(e)
	}},
	{"jwt-local", func(t *testing.T, e *env) (m, func(string) (string, map[string]interface{})) {
		return m{"jwt": m{"enabled": "true", "secret": jwtkit.Secret, "mode": "local"}}, hs256Tokens(t, e)
	}},
	{"jwt-revalidate", func(t *testing.T, e *env) (m, func(string) (string, map[string]interface{})) {
		return m{"jwt": m{"enabled": "true", "secret": jwtkit.Secret, "mode": "revalidate"}}, hs256Tokens(t, e)
	}},
	{"jwt-fallback", func(t *testing.T, e *env) (m, func(string) (string, map[string]interface{})) {
		return m{"jwt": m{"enabled": "true", "secret": jwtkit.Secret, "mode": "fallback"}}, hs256Tokens(t, e)
	}},
	{"jwt-jwks", func(t *testing.T, e *env) (m, func(string) (string, map[string]interface{})) {
		k := jwtkit.Generate(t)
		is := jwtkit.NewIssuer(t, jwtkit.JWK{Pub: &k.RSA.PublicKey, Kid: "k1", Alg: "RS256"})
		return m{"jwt": m{"enabled": "true", "jwksUrl": is.URL(), "mode": "local"}}, func(sub string) (string, map[string]interface{}) {
			claims := jwtkit.Std(sub, "user")
			return jwtkit.Sign(t, "RS256", k.Signer("RS256"), "k1", claims), claims.Data(t)
		}
	}},
}

// TestLoggedOutCookieGetsNoSessionWhateverTheBackend: after a logout, the
// cookies it carried open nothing, not by validation and not by refresh,
// although the backend's logout did nothing (or failed) and the backend
// would still validate and refresh them. No refresh call is even made.
func TestLoggedOutCookieGetsNoSessionWhateverTheBackend(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		for _, kind := range sessionKinds {
			for _, dual := range []bool{false, true} {
				for _, logout := range []string{"noop", "failing", "redirect"} {
					name := fmt.Sprintf("%s/dual=%v/logout=%s", kind.name, dual, logout)
					t.Run(name, func(t *testing.T) {
						loggedOutReplay(t, e, kind, dual, logout)
					})
				}
			}
		}
	})
}

func loggedOutReplay(t *testing.T, e *env, kind sessionKind, dual bool, logout string) {
	opts, mint := kind.setup(t, e)
	testkit.Merge(opts, m{"endpoints": m{"logout": logoutPath}, "routes": m{"protected": testkit.List("/account")}})
	if dual {
		testkit.Merge(opts, m{"cookies": m{"refresh": testkit.RefreshCookie}})
	}
	h := e.handler(t, e.opts(opts))
	sub := strings.ReplaceAll(t.Name(), "/", "-")
	access, data := mint(sub)
	credential := access
	session := testkit.Page("/account").Cookie(testkit.UserCookie, access)
	if dual {
		credential = fakebackend.Token(sub + "-refresh")
		session = session.Cookie(testkit.RefreshCookie, credential)
	}
	// Were it asked, the backend would refresh the credential.
	fresh, freshData := mint(sub + "-fresh")
	e.be.RefreshTo(credential, fresh, "", freshData)
	switch logout {
	case "failing":
		e.be.SetLogoutAnswer(fakebackend.Status(http.StatusInternalServerError))
	case "redirect":
		e.be.SetLogoutAnswer(fakebackend.Redirect(http.StatusFound, "http://127.0.0.1:1/elsewhere"))
	default:
		e.be.SetLogoutAnswer(fakebackend.OK(nil))
	}

	testkit.WantIdentity(t, e.do(t, h, session), access, data, sub, "user", "")
	out := session
	out.Target, out.Accept, out.Method = logoutPath, "application/json", http.MethodPost
	r := e.do(t, h, out)
	if r.Code != http.StatusOK {
		t.Fatalf("logout: %d %s", r.Code, r.Body)
	}
	testkit.WantCookieCleared(t, r, testkit.UserCookie)

	for i := 0; i < 2; i++ {
		r = e.do(t, h, session)
		testkit.WantLoginRedirect(t, r, http.StatusFound, "/account")
		testkit.WantNotForwarded(t, r)
		for _, c := range r.Cookies {
			if !testkit.IsClearing(c) {
				t.Errorf("replay %d: Set-Cookie %q: a logged-out cookie got new cookies", i, c.Raw)
			}
		}
	}
	if n := e.be.CountFor(fakebackend.Refresh, credential); n != 0 {
		t.Errorf("refresh calls with the logged-out credential: %d, want 0", n)
	}
}

// TestLoggedOutMarksSurviveFloods: marks are not cache entries. Thousands
// of cookie-less visits (each a minted guest) and junk logouts after a
// real one leave the logged-out JWT refused in jwt.mode local, and leave
// a valid user's cached validation in place.
func TestLoggedOutMarksSurviveFloods(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		opts := e.opts(m{
			"jwt":       m{"enabled": "true", "secret": jwtkit.Secret, "mode": "local"},
			"cache":     m{"maxEntries": "40", "ttl": "60s"},
			"endpoints": m{"logout": logoutPath},
			"routes":    m{"protected": testkit.List("/account")},
		})
		h := e.handler(t, opts)
		k := jwtkit.Generate(t)
		gone := jwtkit.Sign(t, "HS256", k.Signer("HS256"), "", jwtkit.Std("u-gone", "user"))
		kept := fakebackend.Token("u-kept")
		r := e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, gone))
		testkit.WantForwarded(t, r)
		r = e.do(t, h, testkit.API(logoutPath).With(http.MethodPost).Cookie(testkit.UserCookie, gone))
		if r.Code != http.StatusOK {
			t.Fatalf("logout: %d", r.Code)
		}

		// The fake backend's guest tokens are not JWTs: the guest flood
		// goes through a second middleware that validates with the backend.
		plain := e.handler(t, e.opts(e.guestOpts(), m{"cache": m{"maxEntries": "40", "ttl": "60s"}, "endpoints": m{"logout": logoutPath}}))
		keptData := fakebackend.UserData("u-kept", "user", nil)
		e.be.SetUser(kept, keptData)
		// An extra cookie keeps these requests out of the session memo, so
		// the validation cache itself answers.
		keptReq := testkit.Page("/").Cookie(testkit.UserCookie, kept)
		testkit.WantIdentity(t, e.do(t, plain, keptReq.Cookie("n", "1")), kept, keptData, "u-kept", "user", "")
		for i := 0; i < 200; i++ {
			e.do(t, plain, testkit.Page("/"))
			e.do(t, h, testkit.API(logoutPath).With(http.MethodPost).Cookie(testkit.UserCookie, fmt.Sprintf("junk-%d", i)))
		}
		if e.be.Count(fakebackend.Guest) < 200 {
			t.Fatalf("guest mints: %d, want the flood to have minted at least 200", e.be.Count(fakebackend.Guest))
		}
		testkit.WantIdentity(t, e.do(t, plain, keptReq.Cookie("n", "2")), kept, keptData, "u-kept", "user", "")
		if n := e.be.CountFor(fakebackend.Validate, kept); n != 1 {
			t.Errorf("validations of the user's token after the guest flood: %d, want 1 (still cached)", n)
		}
		r = e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, gone))
		testkit.WantLoginRedirect(t, r, http.StatusFound, "/account")
	})
}

// TestLogoutCoversEveryMiddleware: the same token opens two middlewares;
// logging out at one refuses it at the other at once, although the other
// had it cached (jwt.mode local caches it until exp).
func TestLogoutCoversEveryMiddleware(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		opts := e.opts(m{
			"jwt":       m{"enabled": "true", "secret": jwtkit.Secret, "mode": "local"},
			"endpoints": m{"logout": logoutPath},
			"routes":    m{"protected": testkit.List("/account")},
		})
		a, b := e.handler(t, opts), e.handler(t, opts)
		k := jwtkit.Generate(t)
		tok := jwtkit.Sign(t, "HS256", k.Signer("HS256"), "", jwtkit.Std("u-both", "user"))
		for _, h := range []http.Handler{a, b, b} {
			testkit.WantForwarded(t, e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, tok)))
		}
		if r := e.do(t, a, testkit.API(logoutPath).With(http.MethodPost).Cookie(testkit.UserCookie, tok)); r.Code != http.StatusOK {
			t.Fatalf("logout: %d", r.Code)
		}
		r := e.do(t, b, testkit.Page("/account").Cookie(testkit.UserCookie, tok))
		testkit.WantLoginRedirect(t, r, http.StatusFound, "/account")
	})
}

// TestBackendRedirectIsUnavailable: a 3xx from any backend call is never
// followed and never a panic: guests are not minted (the page is served
// anonymously), validation and refresh keep the cookies and fail closed,
// login answers 503, and logout still clears the cookies and ends the
// session here.
func TestBackendRedirectIsUnavailable(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		var followed atomic.Int64
		elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			followed.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"success":true,"data":{"id":"evil","type":"user","accessToken":"evil-token-0123456789"}}`))
		}))
		defer elsewhere.Close()
		to := func(status int) fakebackend.Answer { return fakebackend.Redirect(status, elsewhere.URL+"/x") }
		h := e.handler(t, endpointOpts(e, e.guestOpts()))

		e.be.SetGuestAnswer(to(http.StatusFound))
		r := e.do(t, h, testkit.Page("/"))
		testkit.WantAnonymous(t, r)
		testkit.WantNoSetCookie(t, r)

		access, refresh := fakebackend.Token("redir-access"), fakebackend.Token("redir-refresh")
		e.be.SetValidate(access, to(http.StatusTemporaryRedirect))
		e.be.SetRefresh(refresh, to(http.StatusPermanentRedirect))
		r = e.do(t, h, testkit.API("/api/me").Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
		testkit.WantJSONError(t, r, http.StatusServiceUnavailable)
		testkit.WantNoCookieClearing(t, r)

		e.be.SetLogin("rita", "pw", to(http.StatusSeeOther))
		testkit.WantJSONError(t, e.do(t, h, jsonLogin("rita", "pw")), http.StatusServiceUnavailable)

		e.be.SetValidate(access, fakebackend.OK(fakebackend.UserData("u-r", "user", nil)))
		e.be.SetLogoutAnswer(to(http.StatusFound))
		r = e.do(t, h, testkit.API(logoutPath).With(http.MethodPost).Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
		if r.Code != http.StatusOK {
			t.Fatalf("logout with a redirecting backend: %d %s", r.Code, r.Body)
		}
		testkit.WantCookieCleared(t, r, testkit.UserCookie)
		testkit.WantCookieCleared(t, r, testkit.RefreshCookie)
		testkit.WantLoginRedirect(t, e.do(t, h, testkit.Page("/dashboard").Cookie(testkit.UserCookie, access)), http.StatusFound, "/dashboard")
		if n := followed.Load(); n != 0 {
			t.Errorf("the redirect target was called %d times, want never", n)
		}
	})
}

// TestLoginClearsCookiesItDoesNotSet: a login whose answer has no refresh
// token clears the refresh cookie the browser carried (a previous user's,
// or one planted from a sibling subdomain), and the expiry hint when the
// new session has no expiry.
func TestLoginClearsCookiesItDoesNotSet(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, endpointOpts(e, m{"cookies": m{"expiryHint": hintCookie}}))
		access := fakebackend.Token("norem-access")
		e.be.SetUser(access, fakebackend.UserData("u-norem", "user", nil))
		e.be.SetLogin("nora", "pw", fakebackend.LoggedIn(access, "", fakebackend.UserData("u-norem", "user", nil)))
		r := e.do(t, h, jsonLogin("nora", "pw").Cookie(testkit.RefreshCookie, "previous-users-refresh").Cookie(hintCookie, "123"))
		if r.Code != http.StatusOK {
			t.Fatalf("login: %d %s", r.Code, r.Body)
		}
		testkit.WantCookieSet(t, r, testkit.UserCookie, access)
		testkit.WantCookieCleared(t, r, testkit.RefreshCookie)
		testkit.WantCookieCleared(t, r, hintCookie)
		testkit.WantCookieCleared(t, r, testkit.GuestCookie)
		// Not carried, still cleared: a cookie on another path or one the
		// browser did not send this time cannot survive either.
		r = e.do(t, h, jsonLogin("nora", "pw"))
		testkit.WantCookieCleared(t, r, testkit.RefreshCookie)
	})
}

// TestNoTokenReachesPageScripts: tokens echoed by the backend in any
// shape are dropped from the login answer and from the session endpoint.
func TestNoTokenReachesPageScripts(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, endpointOpts(e))
		access, refresh := fakebackend.Token("echo-access"), fakebackend.Token("echo-refresh")
		user := fakebackend.UserData("u-echo", "user", nil)
		user["accessToken"] = access
		user["session"] = "Bearer " + access
		user["name"] = "Echo"
		e.be.SetUser(access, user)
		answer := fakebackend.LoggedIn(access, refresh, user)
		doc := answer.JSON.(map[string]interface{})
		doc["message"] = "welcome, your token is " + access
		doc["cookie"] = "userToken=" + access
		doc["auth"] = "Bearer " + refresh
		doc["list"] = []interface{}{"ok", "x " + refresh}
		doc["other"] = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzb21lb25lIn0.c2ln"
		e.be.SetLogin("echo", "pw", answer)
		r := e.do(t, h, jsonLogin("echo", "pw"))
		if r.Code != http.StatusOK {
			t.Fatalf("login: %d %s", r.Code, r.Body)
		}
		wantNoTokenIn(t, "the login answer", r.Body, access, refresh, "eyJhbGciOiJIUzI1NiJ9")
		if !strings.Contains(r.Body, `"Echo"`) {
			t.Errorf("the login answer lost the user's plain fields: %s", r.Body)
		}
		r = e.do(t, h, testkit.API(sessionPath).Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
		wantNoTokenIn(t, "the session answer", r.Body, access, refresh)
		if !strings.Contains(r.Body, `"Echo"`) {
			t.Errorf("the session answer lost the user's plain fields: %s", r.Body)
		}
	})
}

// TestEndpointsShareOneDeadline: login's backend call and the validation
// of its new token, and logout's token flow and its backend call, fit in
// one backend.timeout together, not one each.
func TestEndpointsShareOneDeadline(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, endpointOpts(e, m{"backend": m{"timeout": "1200ms"}}))
		access := fakebackend.Token("slow-access")
		data := fakebackend.UserData("u-slow", "user", nil)
		e.be.SetValidate(access, fakebackend.Answer{JSON: fakebackend.OK(data).JSON, Delay: time.Second})
		slowLogin := fakebackend.LoggedIn(access, "", data)
		slowLogin.Delay = time.Second
		e.be.SetLogin("sam", "pw", slowLogin)
		start := time.Now()
		e.doWithin(t, h, jsonLogin("sam", "pw"), hangBound)
		// Two 1 s calls in a row take 2 s; one deadline ends at 1.2 s.
		if took := time.Since(start); took > 1800*time.Millisecond {
			t.Errorf("login took %s with backend.timeout 1.2s", took)
		}

		hung := fakebackend.Token("hung-access")
		e.be.SetValidate(hung, fakebackend.Hang())
		e.be.SetLogoutAnswer(fakebackend.Hang())
		start = time.Now()
		r := e.doWithin(t, h, testkit.API(logoutPath).With(http.MethodPost).Cookie(testkit.UserCookie, hung), hangBound)
		if took := time.Since(start); took > 1800*time.Millisecond {
			t.Errorf("logout took %s with backend.timeout 1.2s and a hung backend (two timeouts: 2.4s)", took)
		}
		testkit.WantCookieCleared(t, r, testkit.UserCookie)
	})
}

// TestEndpointsMintNoGuest: a cookie-less login with guests on costs the
// login and the validation of its token, no guest token.
func TestEndpointsMintNoGuest(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, endpointOpts(e, e.guestOpts()))
		loginUser(e, "gina")
		r := e.do(t, h, jsonLogin("gina", "secret-gina"))
		if r.Code != http.StatusOK {
			t.Fatalf("login: %d %s", r.Code, r.Body)
		}
		testkit.WantCount(t, e.be, fakebackend.Guest, 0)
		if n := e.be.Total(); n != 2 {
			t.Errorf("backend calls for one cookie-less login: %d, want 2 (login, validate)", n)
		}
		e.do(t, h, testkit.API(sessionPath))
		e.do(t, h, testkit.API(logoutPath).With(http.MethodPost))
		testkit.WantCount(t, e.be, fakebackend.Guest, 0)
	})
}

// TestEndpointLookalikesNeverReachTheApp: another spelling of an endpoint's
// path (case, a ";" parameter, a trailing slash) is refused, so an app
// reading it as its own login route never receives the credentials.
func TestEndpointLookalikesNeverReachTheApp(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, endpointOpts(e))
		creds := `{"username":"u","password":"secret"}`
		for _, p := range []string{"/AUTH/LOGIN", "/Auth/Login", "/auth/login;x", "/auth/login;jsessionid=1", "/auth/LOGOUT", "/auth/session;a=b", "/AUTH/login/;x"} {
			r := e.do(t, h, testkit.API(p).With(http.MethodPost).WithBody("application/json", creds))
			testkit.WantNotForwarded(t, r)
			if r.Code != http.StatusBadRequest {
				t.Errorf("POST %s: %d %s, want 400", p, r.Code, r.Body)
			}
		}
		// A spelling that is the endpoint's own path once canonical is
		// the endpoint: answered by authlayer, never forwarded.
		for _, p := range []string{"/auth//login", "/auth/login/", "/auth/./login"} {
			testkit.WantNotForwarded(t, e.do(t, h, testkit.API(p).With(http.MethodPost).WithBody("application/json", creds)))
		}
		testkit.WantForwarded(t, e.do(t, h, testkit.Page("/auth/loginhelp")))
	})
}

// TestEndpointsOriginWithoutCSRF: with csrf off, login and logout compare
// the whole origin (scheme, host, port) and refuse two Origin headers.
func TestEndpointsOriginWithoutCSRF(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, endpointOpts(e))
		loginUser(e, "olga")
		post := func(origins ...string) *testkit.Result {
			rq := jsonLogin("olga", "secret-olga")
			for _, o := range origins {
				rq = rq.WithHeader("Origin", o)
			}
			return e.do(t, h, rq)
		}
		// httptest requests are http://example.com.
		if r := post("http://example.com"); r.Code != http.StatusOK {
			t.Errorf("same origin: %d %s", r.Code, r.Body)
		}
		for _, origins := range [][]string{{"https://example.com"}, {"http://example.com:8443"}, {"http://example.com", "https://evil.test"}, {"https://evil.test", "http://example.com"}, {"null"}} {
			if r := post(origins...); r.Code != http.StatusForbidden {
				t.Errorf("Origin %q: %d %s, want 403", origins, r.Code, r.Body)
			}
		}
	})
}

// TestLoginAgainWithTheSameToken: a stateless backend may hand back, at a
// new login, the very token string that was logged out (the same claims in
// the same second). The new login opens the session; the mark does not
// lock the user out until exp.
func TestLoginAgainWithTheSameToken(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, endpointOpts(e))
		access, refresh, user := loginUser(e, "sally")
		if r := e.do(t, h, jsonLogin("sally", "secret-sally")); r.Code != http.StatusOK {
			t.Fatalf("login: %d %s", r.Code, r.Body)
		}
		session := testkit.Page("/dashboard").Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh)
		testkit.WantIdentity(t, e.do(t, h, session), access, user, user["id"].(string), "user", "")
		if r := e.do(t, h, testkit.API(logoutPath).With(http.MethodPost).Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh)); r.Code != http.StatusOK {
			t.Fatalf("logout: %d", r.Code)
		}
		testkit.WantLoginRedirect(t, e.do(t, h, session), http.StatusFound, "/dashboard")
		r := e.do(t, h, jsonLogin("sally", "secret-sally"))
		if r.Code != http.StatusOK {
			t.Fatalf("second login with the same token: %d %s", r.Code, r.Body)
		}
		testkit.WantCookieSet(t, r, testkit.UserCookie, access)
		testkit.WantIdentity(t, e.do(t, h, session), access, user, user["id"].(string), "user", "")
	})
}
