package contract

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
)

// TestSecurityDuplicateUserCookieIsNotTrusted: a user cookie sent twice
// with different values (a sibling subdomain tossing its own) is not
// trusted, whichever comes first and whether or not one of them is
// cached: a protected page sends the visitor to the login page, the app
// is not called and neither value is validated.
func TestSecurityDuplicateUserCookieIsNotTrusted(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(m{"routes": m{"protected": "/account"}, "cache": m{"ttl": "1h"}}))
		alice, aliceData := freshUser(e, "dup-alice", "u-alice")
		mallory, _ := freshUser(e, "dup-mallory", "u-mallory")
		// Alice's token is cached: the fast path would accept it.
		testkit.WantIdentity(t, e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, alice)), alice, aliceData, "u-alice", "user", "")

		for _, tc := range []struct {
			desc  string
			lines []string // Cookie header lines
		}{
			{"attacker's first", []string{testkit.UserCookie + "=" + mallory + "; " + testkit.UserCookie + "=" + alice}},
			{"attacker's last", []string{testkit.UserCookie + "=" + alice + "; " + testkit.UserCookie + "=" + mallory}},
			{"among other cookies", []string{"theme=dark; " + testkit.UserCookie + "=" + alice + "; lang=en; " + testkit.UserCookie + "=" + mallory}},
			{"two Cookie header lines", []string{testkit.UserCookie + "=" + alice, testkit.UserCookie + "=" + mallory}},
		} {
			for _, kind := range []string{"page", "API"} {
				t.Run(tc.desc+"/"+kind, func(t *testing.T) {
					rq := testkit.Page("/account/settings")
					if kind == "API" {
						rq = testkit.API("/account/settings")
					}
					for _, l := range tc.lines {
						rq = rq.WithHeader("Cookie", l)
					}
					before := e.be.Total()
					r := e.do(t, h, rq)
					testkit.WantNotForwarded(t, r)
					if kind == "page" {
						testkit.WantLoginRedirect(t, r, http.StatusFound, "/account/settings")
					} else {
						testkit.WantJSONError(t, r, http.StatusUnauthorized)
					}
					testkit.WantBackendUntouched(t, e.be, before)
					if got := e.be.CountFor(fakebackend.Validate, mallory); got != 0 {
						t.Errorf("the tossed token was validated %d times", got)
					}
				})
			}
		}
		t.Run("on a public page the visitor is anonymous", func(t *testing.T) {
			r := e.do(t, h, testkit.Page("/").WithHeader("Cookie", testkit.UserCookie+"="+alice+"; "+testkit.UserCookie+"="+mallory))
			testkit.WantAnonymous(t, r)
		})
		t.Run("control: the same value twice is one cookie", func(t *testing.T) {
			r := e.do(t, h, testkit.Page("/account").WithHeader("Cookie", testkit.UserCookie+"="+alice+"; "+testkit.UserCookie+"="+alice))
			testkit.WantIdentity(t, r, alice, aliceData, "u-alice", "user", "")
		})
	})
}

// TestSecurityDuplicateUserCookieSpelledWithSpaceIsNotTrusted: net/http
// trims the spaces and tabs around a cookie's name, so "userToken =<a>"
// is a user cookie like "userToken=<a>". A user cookie sent twice with
// different values is trusted in neither copy however either is spelled,
// also when both tokens are cached (the fast path's case): a tossed
// attacker's or guest's token does not become the session, and the
// victim's own does not either.
func TestSecurityDuplicateUserCookieSpelledWithSpaceIsNotTrusted(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(m{"routes": m{"protected": "/account"}, "cache": m{"ttl": "1h"}}))
		alice, aliceData := freshUser(e, "spaced-alice", "u-alice")
		mallory, malloryData := freshUser(e, "spaced-mallory", "u-mallory")
		guest := fakebackend.Token("spaced-guest")
		e.be.SetUser(guest, fakebackend.UserData("g-spaced", "guest", nil))
		// Every token is cached: the fast path would accept any of them.
		testkit.WantIdentity(t, e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, alice)), alice, aliceData, "u-alice", "user", "")
		testkit.WantIdentity(t, e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, mallory)), mallory, malloryData, "u-mallory", "user", "")
		testkit.WantForwarded(t, e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, guest)))

		for _, tc := range []struct {
			desc  string
			lines []string // Cookie header lines
		}{
			{"attacker's first, space before =", []string{testkit.UserCookie + " =" + mallory + "; " + testkit.UserCookie + "=" + alice}},
			{"attacker's first, tab before =", []string{testkit.UserCookie + "\t=" + mallory + "; " + testkit.UserCookie + "=" + alice}},
			{"attacker's last, space before =", []string{testkit.UserCookie + "=" + alice + "; " + testkit.UserCookie + " =" + mallory}},
			{"both spaced", []string{testkit.UserCookie + "  =" + mallory + ";" + testkit.UserCookie + " =" + alice}},
			{"guest's first, space before =", []string{testkit.UserCookie + " =" + guest + "; " + testkit.UserCookie + "=" + alice}},
			{"among other cookies", []string{"theme=dark; " + testkit.UserCookie + " =" + mallory + "; lang=en; " + testkit.UserCookie + "=" + alice}},
			{"two Cookie header lines, spaced", []string{testkit.UserCookie + " =" + mallory, testkit.UserCookie + "=" + alice}},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				rq := testkit.Page("/account/settings")
				for _, l := range tc.lines {
					rq = rq.WithHeader("Cookie", l)
				}
				before := e.be.Total()
				r := e.do(t, h, rq)
				testkit.WantNotForwarded(t, r)
				testkit.WantLoginRedirect(t, r, http.StatusFound, "/account/settings")
				testkit.WantBackendUntouched(t, e.be, before)

				pub := testkit.Page("/")
				for _, l := range tc.lines {
					pub = pub.WithHeader("Cookie", l)
				}
				testkit.WantAnonymous(t, e.do(t, h, pub))
			})
		}
		t.Run("control: one spaced cookie is the session", func(t *testing.T) {
			r := e.do(t, h, testkit.Page("/account").WithHeader("Cookie", testkit.UserCookie+" ="+alice))
			testkit.WantIdentity(t, r, alice, aliceData, "u-alice", "user", "")
		})
	})
}

// cookieApp is an upstream that sets its own cookies (one named like an
// auth cookie) and a public Cache-Control, then answers in one of several
// ways.
type cookieApp struct {
	name  string // the auth cookie name it tries to set
	mode  string // "WriteHeader", "Write", "Flush"
	calls atomic.Int64
}

const appCookieValue = "set-by-the-app"

func (a *cookieApp) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	a.calls.Add(1)
	h := w.Header()
	h.Add("Set-Cookie", a.name+"="+appCookieValue+"; Path=/")
	h.Add("Set-Cookie", "appPref=dark; Path=/")
	h.Set("Cache-Control", "public, max-age=600")
	switch a.mode {
	case "WriteHeader":
		w.WriteHeader(http.StatusOK)
	case "Flush":
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	_, _ = io.WriteString(w, "app")
}

// handlerWithNext builds the middleware in front of next.
func (e *env) handlerWithNext(t *testing.T, options m, next http.Handler) http.Handler {
	t.Helper()
	h, err := e.factory(options, next, t.Name()+"#app")
	if err != nil {
		t.Fatalf("New(%v): unexpected error: %v", options, err)
	}
	return h
}

// TestSecurityUpstreamCannotOverrideSessionCookies: on a response where
// authlayer sets a session cookie (refresh, guest mint), an upstream
// Set-Cookie with the same name is dropped, so only authlayer's value
// remains; the app's other cookies stay; the response is no-store even if
// the app said it was public. This holds however the app writes its
// header.
func TestSecurityUpstreamCannotOverrideSessionCookies(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		for _, mode := range []string{"WriteHeader", "Write", "Flush"} {
			t.Run("refresh/"+mode, func(t *testing.T) {
				app := &cookieApp{name: testkit.UserCookie, mode: mode}
				h := e.handlerWithNext(t, e.opts(), app)
				old := fakebackend.Token("upstream-cookie-old-" + mode)
				fresh := fakebackend.Token("upstream-cookie-new-" + mode)
				e.be.SetValidate(old, fakebackend.Unauthorized())
				e.be.RefreshTo(old, fresh, "", fakebackend.UserData("u-up", "user", nil))

				r := e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, old))
				if app.calls.Load() != 1 || r.Code != http.StatusOK || r.Body != "app" {
					t.Fatalf("got %d %q after %d app calls, want the app's answer", r.Code, r.Body, app.calls.Load())
				}
				testkit.WantCookieSet(t, r, testkit.UserCookie, fresh)
				wantAppCookieKept(t, r)
				wantOnlyNoStore(t, r)
			})
			t.Run("guest mint/"+mode, func(t *testing.T) {
				app := &cookieApp{name: testkit.GuestCookie, mode: mode}
				h := e.handlerWithNext(t, e.opts(e.guestOpts()), app)
				before := e.be.Count(fakebackend.Guest)
				r := e.do(t, h, testkit.Page("/"))
				if app.calls.Load() != 1 || e.be.Count(fakebackend.Guest) != before+1 {
					t.Fatalf("app calls %d, mints %d: want one each", app.calls.Load(), e.be.Count(fakebackend.Guest)-before)
				}
				cs := r.SetCookies(testkit.GuestCookie)
				if len(cs) != 1 || cs[0].Value == appCookieValue || cs[0].Value == "" {
					t.Errorf("Set-Cookie %s: got %q, want only authlayer's minted token", testkit.GuestCookie, testkit.RawCookies(cs))
				}
				wantAppCookieKept(t, r)
				wantOnlyNoStore(t, r)
			})
		}

		t.Run("dual-token refresh", func(t *testing.T) {
			app := &cookieApp{name: testkit.RefreshCookie, mode: "WriteHeader"}
			h := e.handlerWithNext(t, e.opts(m{"cookies": m{"refresh": testkit.RefreshCookie}}), app)
			access := fakebackend.Token("upstream-dual-access")
			refresh := fakebackend.Token("upstream-dual-refresh")
			fresh := fakebackend.Token("upstream-dual-fresh")
			rotated := fakebackend.Token("upstream-dual-rotated")
			e.be.SetValidate(access, fakebackend.Unauthorized())
			e.be.RefreshTo(refresh, fresh, rotated, fakebackend.UserData("u-dual", "user", nil))
			r := e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
			testkit.WantCookieSet(t, r, testkit.UserCookie, fresh)
			testkit.WantCookieSet(t, r, testkit.RefreshCookie, rotated)
			wantAppCookieKept(t, r)
			wantOnlyNoStore(t, r)
		})
	})
}

func wantAppCookieKept(t *testing.T, r *testkit.Result) {
	t.Helper()
	if cs := r.SetCookies("appPref"); len(cs) != 1 || cs[0].Value != "dark" {
		t.Errorf("Set-Cookie appPref: got %q, want the app's own cookie kept", testkit.RawCookies(cs))
	}
}

// wantOnlyNoStore checks Cache-Control is no-store and nothing the app
// said about caching survives.
func wantOnlyNoStore(t *testing.T, r *testkit.Result) {
	t.Helper()
	testkit.WantNoStore(t, r)
	cc := strings.ToLower(strings.Join(r.Header.Values("Cache-Control"), ","))
	if strings.Contains(cc, "public") || strings.Contains(cc, "max-age") {
		t.Errorf("Cache-Control: got %q, want the app's public caching replaced by no-store", cc)
	}
}

// TestSecurityIdentityHeaderAliasesAsRawKeys: header keys set exactly as
// a client (or a non-Go front proxy) might spell them, X_Auth_User or
// x.auth.user, which PHP, WSGI and nginx fold into the real header, never
// reach the app, on any path.
func TestSecurityIdentityHeaderAliasesAsRawKeys(t *testing.T) {
	aliases := []string{
		"X_Auth_User", "x.auth.user", "X-AUTH-USER", "x-auth-user",
		"X_AUTH_USER_ID", "x.auth.user.id", "x_auth_user-id",
		"x_auth_token_type", "X.Auth.Token.Type",
		"X_Refreshed_Token", "x.refreshed.token",
		"AUTHORIZATION", "authorization",
		// Every character HTTP allows in a name besides letters, digits and
		// "-" is "_" to CGI, WSGI, PHP and nginx.
		"X~Auth~User", "X+Auth+User", "X!Auth!User", "X#Auth$User", "X%Auth&User",
		"X'Auth*User", "X^Auth`User", "X|Auth|User|Id", "x~refreshed~token",
	}
	const forged = "eyJpZCI6ImFkbWluIiwicm9sZSI6ImFkbWluIn0=" // {"id":"admin","role":"admin"}
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(m{"routes": m{"protected": "/account", "excluded": "/static"}}))
		tok, data := freshUser(e, "aliases-user", "u-aliases")
		forge := func(rq testkit.Request) testkit.Request {
			for _, k := range aliases {
				rq = rq.WithRawKey(k, forged)
			}
			return rq
		}
		wantNoAlias := func(t *testing.T, r *testkit.Result) {
			t.Helper()
			for _, k := range aliases {
				if v, ok := r.Upstream[k]; ok {
					t.Errorf("upstream header key %q: got %q, want it stripped", k, v)
				}
			}
		}
		for _, tc := range []struct {
			desc   string
			rq     testkit.Request
			userOK bool
		}{
			{"anonymous, public", testkit.Page("/"), false},
			{"anonymous, excluded", testkit.Page("/static/app.js"), false},
			{"user, excluded", testkit.Page("/static/app.js").Cookie(testkit.UserCookie, tok), false},
			{"user, public", testkit.Page("/").Cookie(testkit.UserCookie, tok), true},
			{"user, protected", testkit.Page("/account").Cookie(testkit.UserCookie, tok), true},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				r := e.do(t, h, forge(tc.rq))
				if tc.userOK {
					testkit.WantIdentity(t, r, tok, data, "u-aliases", "user", "")
				} else {
					testkit.WantAnonymous(t, r)
				}
				wantNoAlias(t, r)
			})
		}
		t.Run("anonymous, protected", func(t *testing.T) {
			r := e.do(t, h, forge(testkit.API("/account")))
			testkit.WantNotForwarded(t, r)
			testkit.WantJSONError(t, r, http.StatusUnauthorized)
		})
	})
}

// silentApp answers without writing anything: the server then sends an
// empty 200 on its own.
type silentApp struct{ calls atomic.Int64 }

func (a *silentApp) ServeHTTP(http.ResponseWriter, *http.Request) { a.calls.Add(1) }

// TestSecuritySessionCookiesWhenAppWritesNothing: a refreshed session
// cookie reaches the browser, with no-store, also when the app returns
// without calling Write or WriteHeader (the server then writes an empty
// 200 itself). Otherwise the browser keeps the expired token and, in
// dual-token mode, loses the rotated refresh token: once the grace window
// is over, the next refresh replays a used refresh token and the user is
// logged out.
func TestSecuritySessionCookiesWhenAppWritesNothing(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		app := &silentApp{}
		h := e.handlerWithNext(t, e.opts(m{"cookies": m{"refresh": testkit.RefreshCookie}}), app)
		access := fakebackend.Token("silent-access")
		refresh := fakebackend.Token("silent-refresh")
		fresh := fakebackend.Token("silent-fresh")
		rotated := fakebackend.Token("silent-rotated")
		e.be.SetValidate(access, fakebackend.Unauthorized())
		e.be.RefreshTo(refresh, fresh, rotated, fakebackend.UserData("u-silent", "user", nil))

		r := e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
		if app.calls.Load() != 1 || r.Code != http.StatusOK {
			t.Fatalf("got %d after %d app calls, want the app's empty 200", r.Code, app.calls.Load())
		}
		testkit.WantCookieSet(t, r, testkit.UserCookie, fresh)
		testkit.WantCookieSet(t, r, testkit.RefreshCookie, rotated)
		testkit.WantNoStore(t, r)
	})
}

// hijackRecorder is a ResponseRecorder that can be hijacked, as the
// server's own ResponseWriter can.
type hijackRecorder struct {
	*httptest.ResponseRecorder
	hijacked bool
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h.hijacked = true
	c1, c2 := net.Pipe()
	_ = c2.Close()
	return c1, bufio.NewReadWriter(bufio.NewReader(c1), bufio.NewWriter(c1)), nil
}

// TestSecurityUpgradeOnARequestThatSetsCookies: a request that makes
// authlayer set a cookie (a refresh here; a guest mint or a first __csrf
// token alike) can still be upgraded (WebSocket): the app, or Traefik's
// reverse proxy, can hijack the connection through authlayer's writer.
func TestSecurityUpgradeOnARequestThatSetsCookies(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		var hijackErr error
		calls := 0
		app := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			calls++
			conn, _, err := http.NewResponseController(w).Hijack()
			hijackErr = err
			if conn != nil {
				_ = conn.Close()
			}
		})
		h := e.handlerWithNext(t, e.opts(), app)
		for _, tc := range []struct {
			desc    string
			refresh bool
		}{
			{"control: no cookie to set", false},
			{"refreshing request", true},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				tok, _ := freshUser(e, "upgrade-"+tc.desc, "u-ws")
				if tc.refresh {
					e.be.SetValidate(tok, fakebackend.Unauthorized())
					e.be.RefreshTo(tok, fakebackend.Token("upgrade-fresh"), "", fakebackend.UserData("u-ws", "user", nil))
				}
				req, _ := e.newRequest(testkit.Page("/ws").Cookie(testkit.UserCookie, tok).WithHeader("Connection", "Upgrade").WithHeader("Upgrade", "websocket"))
				rec := &hijackRecorder{ResponseRecorder: httptest.NewRecorder()}
				calls, hijackErr = 0, nil
				h.ServeHTTP(rec, req)
				if calls != 1 {
					t.Fatalf("app calls: got %d, want 1 (status %d)", calls, rec.Code)
				}
				if hijackErr != nil || !rec.hijacked {
					t.Errorf("Hijack through authlayer: got error %v (hijacked %v), want the connection", hijackErr, rec.hijacked)
				}
			})
		}
	})
}
