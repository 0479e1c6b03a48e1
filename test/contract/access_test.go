package contract

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
)

// TestExcluded: excluded paths reach the app with no backend call and no
// cookie, whatever the request carries.
func TestExcluded(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(e.guestOpts(), m{"routes": m{
			"excluded":           testkit.List("/static", "/favicon.ico"),
			"authOnly":           testkit.List("/login"),
			"protectedByDefault": "true",
		}}))
		expired := fakebackend.Token("excluded-expired") // unknown: 401
		for _, tc := range []struct {
			desc string
			rq   testkit.Request
		}{
			{"asset, no cookie", testkit.Page("/static/app.js")},
			{"asset, expired user cookie", testkit.Page("/static/css/site.css").Cookie(testkit.UserCookie, expired)},
			{"exact file", testkit.API("/favicon.ico").Cookie(testkit.GuestCookie, expired)},
			{"POST", testkit.Page("/static/upload").With(http.MethodPost)},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				before := e.be.Total()
				r := e.do(t, h, tc.rq)
				testkit.WantAnonymous(t, r)
				testkit.WantNoSetCookie(t, r)
				if got := e.be.Total() - before; got != 0 {
					t.Errorf("backend calls: got %d, want 0", got)
				}
			})
		}
		t.Run("prefix is a path segment", func(t *testing.T) {
			r := e.do(t, h, testkit.API("/staticky"))
			testkit.WantNotForwarded(t, r)
			testkit.WantJSONError(t, r, http.StatusUnauthorized)
		})
	})
}

// TestRoutePatterns: "/x" matches /x and below, "*" one segment, "**" any
// depth.
func TestRoutePatterns(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(m{"routes": m{"protected": testkit.List("/x", "/a/*/c", "/d/**/z", "/e/**")}}))
		for _, tc := range []struct {
			path      string
			protected bool
		}{
			{"/x", true},
			{"/x/", true},
			{"/x/y/z", true},
			{"/xy", false},
			{"/", false},
			{"/y/x", false},
			{"/a/b/c", true},
			{"/a/bb/c/d", true},
			{"/a/b", false},
			{"/a/b/d", false},
			{"/a/b/x/c", false},
			{"/d/q/z", true},
			{"/d/q/r/s/z", true},
			{"/d/q/r/s/z/t", true},
			{"/d/q/y", false},
			{"/d/q/zz", false},
			{"/e/f", true},
			{"/e/f/g/h", true},
			{"/ef", false},
		} {
			t.Run(tc.path, func(t *testing.T) {
				r := e.do(t, h, testkit.API(tc.path))
				if tc.protected {
					testkit.WantNotForwarded(t, r)
					testkit.WantJSONError(t, r, http.StatusUnauthorized)
				} else {
					testkit.WantAnonymous(t, r)
				}
			})
		}
	})
}

// TestUnauthenticated: anonymous page requests to protected routes are
// redirected to the login page with the original path and query (302 for
// GET and HEAD, 303 otherwise); API requests (under routes.api, or not
// accepting text/html) get 401 JSON.
func TestUnauthenticated(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(m{"routes": m{"protected": testkit.List("/account", "/api/account", "/apix")}}))
		rpc := e.handler(t, e.opts(m{"routes": m{"protected": testkit.List("/rpc", "/api"), "api": testkit.List("/rpc")}}))
		for _, tc := range []struct {
			desc     string
			h        http.Handler
			rq       testkit.Request
			redirect int // 0: a 401 JSON answer
		}{
			{"GET page", h, testkit.Page("/account/settings?tab=2&q=a+b"), http.StatusFound},
			{"HEAD page", h, testkit.Page("/account").With(http.MethodHead), http.StatusFound},
			{"POST page", h, testkit.Page("/account/delete").With(http.MethodPost), http.StatusSeeOther},
			{"PUT page", h, testkit.Page("/account").With(http.MethodPut), http.StatusSeeOther},
			{"DELETE page", h, testkit.Page("/account").With(http.MethodDelete), http.StatusSeeOther},
			{"page-like request under /api", h, testkit.Page("/api/account/me"), 0},
			{"JSON request", h, testkit.API("/account"), 0},
			{"no Accept header", h, testkit.Request{Target: "/account"}, 0},
			{"Accept */*", h, testkit.Request{Target: "/account", Accept: "*/*"}, 0},
			{"POST JSON", h, testkit.API("/account").With(http.MethodPost), 0},
			{"/apix is not under /api", h, testkit.Page("/apix/a"), http.StatusFound},
			{"custom routes.api", rpc, testkit.Page("/rpc/call"), 0},
			{"/api is a page path when routes.api is /rpc", rpc, testkit.Page("/api/x"), http.StatusFound},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				before := e.be.Total()
				r := e.do(t, tc.h, tc.rq)
				testkit.WantNotForwarded(t, r)
				if tc.redirect != 0 {
					testkit.WantLoginRedirect(t, r, tc.redirect, tc.rq.Target)
				} else {
					testkit.WantJSONError(t, r, http.StatusUnauthorized)
					testkit.WantNoStore(t, r)
				}
				if got := e.be.Total() - before; got != 0 {
					t.Errorf("backend calls without a token: got %d, want 0", got)
				}
			})
		}
	})
}

// TestProtectedByDefault: every path is protected except public, authOnly
// and excluded ones.
func TestProtectedByDefault(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(m{"routes": m{
			"protectedByDefault": "true",
			"public":             testkit.List("/pub", "/about"),
			"authOnly":           testkit.List("/login"),
			"excluded":           testkit.List("/static"),
		}}))
		for _, tc := range []struct {
			path      string
			protected bool
		}{
			{"/", true},
			{"/anything", true},
			{"/publications", true},
			{"/pub", false},
			{"/pub/x", false},
			{"/about", false},
			{"/login", false},
			{"/static/x.js", false},
		} {
			t.Run(tc.path, func(t *testing.T) {
				r := e.do(t, h, testkit.API(tc.path))
				if tc.protected {
					testkit.WantNotForwarded(t, r)
					testkit.WantJSONError(t, r, http.StatusUnauthorized)
				} else {
					testkit.WantAnonymous(t, r)
				}
			})
		}
	})
}

// TestLoggedInUser: who counts as logged in on protected routes: a token
// from the user cookie whose type is not "guest", or, with
// routes.allowedTokenTypes, one of those types.
func TestLoggedInUser(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		plain := e.handler(t, e.opts(m{"routes": m{"protected": testkit.List("/ops")}}))
		typed := e.handler(t, e.opts(m{"routes": m{"protected": testkit.List("/ops"), "allowedTokenTypes": testkit.List("admin", "staff")}}))
		for _, tc := range []struct {
			desc    string
			h       http.Handler
			cookie  string
			typ     string
			allowed bool
		}{
			{"user", plain, testkit.UserCookie, "user", true},
			{"type missing: may be a guest, not a user", plain, testkit.UserCookie, "", false},
			{"other type", plain, testkit.UserCookie, "service", true},
			{"guest type in the user cookie", plain, testkit.UserCookie, "guest", false},
			{"user type in the guest cookie", plain, testkit.GuestCookie, "user", false},
			{"allowed admin", typed, testkit.UserCookie, "admin", true},
			{"allowed staff", typed, testkit.UserCookie, "staff", true},
			{"user not in allowedTokenTypes", typed, testkit.UserCookie, "user", false},
			{"type missing not in allowedTokenTypes", typed, testkit.UserCookie, "", false},
			{"guest not in allowedTokenTypes", typed, testkit.UserCookie, "guest", false},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				tok := fakebackend.Token(t.Name())
				e.be.SetUser(tok, fakebackend.UserData("u-ops", tc.typ, nil))
				r := e.do(t, tc.h, testkit.API("/ops/run").Cookie(tc.cookie, tok))
				if tc.allowed {
					testkit.WantForwarded(t, r)
					return
				}
				testkit.WantNotForwarded(t, r)
				if r.Code != http.StatusUnauthorized && r.Code != http.StatusForbidden {
					t.Errorf("status: got %d, want 401 or 403", r.Code)
				}
				testkit.WantNoStore(t, r)
			})
		}
	})
}

// TestRoles: routes.roles rules need one of the roles (data.role, string
// or array); anonymous visitors are treated as on protected routes,
// logged-in users without the role get 403.
func TestRoles(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(m{"routes": m{"roles": []interface{}{
			m{"path": "/admin", "roles": testkit.List("admin")},
			m{"path": "/api/admin", "roles": testkit.List("admin", "owner")},
		}}}))
		guest := fakebackend.Token("roles-guest")
		e.be.SetUser(guest, fakebackend.UserData("g-roles", "guest", nil))

		const (
			allowed   = 200
			anonymous = 401
			forbidden = 403
		)
		for _, tc := range []struct {
			desc   string
			role   interface{} // nil with noUser: anonymous
			noUser bool
			cookie string // overrides the user cookie
			path   string
			want   int
		}{
			{"anonymous", nil, true, "", "/admin", anonymous},
			{"guest", nil, true, guest, "/admin/users", anonymous},
			{"no role", nil, false, "", "/admin", forbidden},
			{"wrong role", "editor", false, "", "/admin/users", forbidden},
			{"role prefix is not the role", "administrator", false, "", "/admin", forbidden},
			{"role string", "admin", false, "", "/admin/users", allowed},
			{"role array", []interface{}{"editor", "admin"}, false, "", "/admin", allowed},
			{"role array without it", []interface{}{"editor"}, false, "", "/admin", forbidden},
			{"second listed role", "owner", false, "", "/api/admin/x", allowed},
			{"other path", nil, false, "", "/administer", allowed},
		} {
			for _, kind := range []string{"API", "page"} {
				t.Run(tc.desc+"/"+kind, func(t *testing.T) {
					rq := testkit.API(tc.path)
					if kind == "page" {
						rq = testkit.Page(tc.path)
					}
					if tc.cookie != "" {
						rq = rq.Cookie(testkit.GuestCookie, tc.cookie)
					} else if !tc.noUser {
						tok := fakebackend.Token(t.Name())
						e.be.SetUser(tok, fakebackend.UserData("u-roles", "user", tc.role))
						rq = rq.Cookie(testkit.UserCookie, tok)
					}
					r := e.do(t, h, rq)
					isAPI := kind == "API" || strings.HasPrefix(tc.path, "/api/")
					switch {
					case tc.want == allowed:
						testkit.WantForwarded(t, r)
					case tc.want == anonymous && isAPI:
						testkit.WantNotForwarded(t, r)
						testkit.WantJSONError(t, r, http.StatusUnauthorized)
					case tc.want == anonymous:
						testkit.WantNotForwarded(t, r)
						testkit.WantLoginRedirect(t, r, http.StatusFound, tc.path)
					case isAPI:
						testkit.WantNotForwarded(t, r)
						testkit.WantJSONError(t, r, http.StatusForbidden)
						testkit.WantNoStore(t, r)
					default:
						testkit.WantNotForwarded(t, r)
						if r.Code != http.StatusForbidden {
							t.Errorf("status: got %d, want 403", r.Code)
						}
						if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
							t.Errorf("Content-Type: got %q, want text/html", ct)
						}
						testkit.WantNoStore(t, r)
					}
				})
			}
		}
	})
}

// TestAuthOnly: a logged-in user's GET page request to an auth-only page
// goes to the safe local `redirect` value, else to routes.homeUrl;
// everyone else is served.
func TestAuthOnly(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		tok := fakebackend.Token("rita")
		e.be.SetUser(tok, fakebackend.UserData("u-rita", "user", nil))
		g := fakebackend.Token("authonly-guest")
		e.be.SetUser(g, fakebackend.UserData("g-ao", "guest", nil))
		routes := m{"routes": m{"authOnly": testkit.List("/login", "/register")}}
		h := e.handler(t, e.opts(routes))
		home := e.handler(t, e.opts(routes, m{"routes": m{"homeUrl": "/home"}}))

		t.Run("redirect targets", func(t *testing.T) {
			for _, tc := range []struct {
				desc     string
				redirect string // "" with absent: no parameter
				absent   bool
				safe     bool
			}{
				{"no parameter", "", true, false},
				{"empty", "", false, false},
				{"local path", "/dashboard", false, true},
				{"local path and query", "/dashboard?x=1&y=2", false, true},
				{"root", "/", false, true},
				{"protocol-relative", "//evil.example/x", false, false},
				{"triple slash", "///evil.example", false, false},
				{"backslash", "/\\evil.example", false, false},
				{"double backslash", "\\\\evil.example", false, false},
				{"absolute URL", "https://evil.example/", false, false},
				{"javascript scheme", "javascript:alert(1)", false, false},
				{"relative", "evil.example", false, false},
				{"tab", "/\t/evil.example", false, false},
				{"CRLF", "/ok\r\nSet-Cookie: a=b", false, false},
				{"NUL", "/ok\x00", false, false},
			} {
				for _, hc := range []struct {
					name string
					h    http.Handler
					home string
				}{{"default home", h, "/"}, {"homeUrl /home", home, "/home"}} {
					t.Run(tc.desc+"/"+hc.name, func(t *testing.T) {
						target := "/login"
						if !tc.absent {
							target += "?redirect=" + url.QueryEscape(tc.redirect)
						}
						r := e.do(t, hc.h, testkit.Page(target).Cookie(testkit.UserCookie, tok))
						want := hc.home
						if tc.safe {
							want = tc.redirect
						}
						testkit.WantNotForwarded(t, r)
						if loc := r.Header.Get("Location"); r.Code != http.StatusFound || loc != want {
							t.Errorf("got %d Location %q, want 302 Location %q", r.Code, loc, want)
						}
						testkit.WantNoStore(t, r)
					})
				}
			}
		})

		t.Run("served", func(t *testing.T) {
			for _, tc := range []struct {
				desc string
				rq   testkit.Request
			}{
				{"anonymous", testkit.Page("/login?redirect=%2Fdashboard")},
				{"guest", testkit.Page("/register").Cookie(testkit.GuestCookie, g)},
				{"logged-in POST", testkit.Page("/login").With(http.MethodPost).Cookie(testkit.UserCookie, tok)},
				{"logged-in API request", testkit.API("/login").Cookie(testkit.UserCookie, tok)},
			} {
				t.Run(tc.desc, func(t *testing.T) {
					testkit.WantForwarded(t, e.do(t, h, tc.rq))
				})
			}
		})
	})
}

// TestRuleSpecificity: the rule with more literal segments wins; on a tie
// the stricter one.
func TestRuleSpecificity(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(m{"routes": m{
			"protected": testkit.List("/docs", "/shop/cart", "/u/*", "/v/b/*"),
			"public":    testkit.List("/docs/public", "/shop", "/u/*", "/v/*/a"),
		}}))
		for _, tc := range []struct {
			path      string
			protected bool
		}{
			{"/docs", true},
			{"/docs/private", true},
			{"/docs/public", false},
			{"/docs/public/x", false},
			{"/shop", false},
			{"/shop/item", false},
			{"/shop/cart", true},
			{"/shop/cart/x", true},
			{"/u/x", true},   // same pattern in both lists: the stricter
			{"/v/b/a", true}, // two literal segments each: the stricter
			{"/v/c/a", false},
		} {
			t.Run(tc.path, func(t *testing.T) {
				r := e.do(t, h, testkit.API(tc.path))
				if tc.protected {
					testkit.WantNotForwarded(t, r)
					testkit.WantJSONError(t, r, http.StatusUnauthorized)
				} else {
					testkit.WantAnonymous(t, r)
				}
			})
		}
	})
}
