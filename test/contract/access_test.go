package contract

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
)

// TestExcluded: excluded paths reach the app with no backend call and no
// cookie, whatever the request carries.
func TestExcluded(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(e.guestOpts(), m{"routes": m{
			"excluded":           list("/static", "/favicon.ico"),
			"authOnly":           list("/login"),
			"protectedByDefault": "true",
		}}))
		expired := fakebackend.Token("excluded-expired") // unknown: 401
		for _, tc := range []struct {
			desc string
			rq   request
		}{
			{"asset, no cookie", page("/static/app.js")},
			{"asset, expired user cookie", page("/static/css/site.css").cookie(userCookie, expired)},
			{"exact file", api("/favicon.ico").cookie(guestCookie, expired)},
			{"POST", page("/static/upload").with(http.MethodPost)},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				before := e.be.Total()
				r := e.do(t, h, tc.rq)
				wantAnonymous(t, r)
				wantNoSetCookie(t, r)
				if got := e.be.Total() - before; got != 0 {
					t.Errorf("backend calls: got %d, want 0", got)
				}
			})
		}
		t.Run("prefix is a path segment", func(t *testing.T) {
			r := e.do(t, h, api("/staticky"))
			wantNotForwarded(t, r)
			wantJSONError(t, r, http.StatusUnauthorized)
		})
	})
}

// TestRoutePatterns: "/x" matches /x and below, "*" one segment, "**" any
// depth.
func TestRoutePatterns(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(m{"routes": m{"protected": list("/x", "/a/*/c", "/d/**/z", "/e/**")}}))
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
				r := e.do(t, h, api(tc.path))
				if tc.protected {
					wantNotForwarded(t, r)
					wantJSONError(t, r, http.StatusUnauthorized)
				} else {
					wantAnonymous(t, r)
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
		h := e.handler(t, e.opts(m{"routes": m{"protected": list("/account", "/api/account", "/apix")}}))
		rpc := e.handler(t, e.opts(m{"routes": m{"protected": list("/rpc", "/api"), "api": list("/rpc")}}))
		for _, tc := range []struct {
			desc     string
			h        http.Handler
			rq       request
			redirect int // 0: a 401 JSON answer
		}{
			{"GET page", h, page("/account/settings?tab=2&q=a+b"), http.StatusFound},
			{"HEAD page", h, page("/account").with(http.MethodHead), http.StatusFound},
			{"POST page", h, page("/account/delete").with(http.MethodPost), http.StatusSeeOther},
			{"PUT page", h, page("/account").with(http.MethodPut), http.StatusSeeOther},
			{"DELETE page", h, page("/account").with(http.MethodDelete), http.StatusSeeOther},
			{"page-like request under /api", h, page("/api/account/me"), 0},
			{"JSON request", h, api("/account"), 0},
			{"no Accept header", h, request{target: "/account"}, 0},
			{"Accept */*", h, request{target: "/account", accept: "*/*"}, 0},
			{"POST JSON", h, api("/account").with(http.MethodPost), 0},
			{"/apix is not under /api", h, page("/apix/a"), http.StatusFound},
			{"custom routes.api", rpc, page("/rpc/call"), 0},
			{"/api is a page path when routes.api is /rpc", rpc, page("/api/x"), http.StatusFound},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				before := e.be.Total()
				r := e.do(t, tc.h, tc.rq)
				wantNotForwarded(t, r)
				if tc.redirect != 0 {
					wantLoginRedirect(t, r, tc.redirect, tc.rq.target)
				} else {
					wantJSONError(t, r, http.StatusUnauthorized)
					wantNoStore(t, r)
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
			"public":             list("/pub", "/about"),
			"authOnly":           list("/login"),
			"excluded":           list("/static"),
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
				r := e.do(t, h, api(tc.path))
				if tc.protected {
					wantNotForwarded(t, r)
					wantJSONError(t, r, http.StatusUnauthorized)
				} else {
					wantAnonymous(t, r)
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
		plain := e.handler(t, e.opts(m{"routes": m{"protected": list("/ops")}}))
		typed := e.handler(t, e.opts(m{"routes": m{"protected": list("/ops"), "allowedTokenTypes": list("admin", "staff")}}))
		for _, tc := range []struct {
			desc    string
			h       http.Handler
			cookie  string
			typ     string
			allowed bool
		}{
			{"user", plain, userCookie, "user", true},
			{"type missing: may be a guest, not a user (issue 7, defect 4)", plain, userCookie, "", false},
			{"other type", plain, userCookie, "service", true},
			{"guest type in the user cookie", plain, userCookie, "guest", false},
			{"user type in the guest cookie", plain, guestCookie, "user", false},
			{"allowed admin", typed, userCookie, "admin", true},
			{"allowed staff", typed, userCookie, "staff", true},
			{"user not in allowedTokenTypes", typed, userCookie, "user", false},
			{"type missing not in allowedTokenTypes", typed, userCookie, "", false},
			{"guest not in allowedTokenTypes", typed, userCookie, "guest", false},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				tok := fakebackend.Token(t.Name())
				e.be.SetUser(tok, fakebackend.UserData("u-ops", tc.typ, nil))
				r := e.do(t, tc.h, api("/ops/run").cookie(tc.cookie, tok))
				if tc.allowed {
					wantForwarded(t, r)
					return
				}
				wantNotForwarded(t, r)
				if r.code != http.StatusUnauthorized && r.code != http.StatusForbidden {
					t.Errorf("status: got %d, want 401 or 403", r.code)
				}
				wantNoStore(t, r)
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
			m{"path": "/admin", "roles": list("admin")},
			m{"path": "/api/admin", "roles": list("admin", "owner")},
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
					rq := api(tc.path)
					if kind == "page" {
						rq = page(tc.path)
					}
					if tc.cookie != "" {
						rq = rq.cookie(guestCookie, tc.cookie)
					} else if !tc.noUser {
						tok := fakebackend.Token(t.Name())
						e.be.SetUser(tok, fakebackend.UserData("u-roles", "user", tc.role))
						rq = rq.cookie(userCookie, tok)
					}
					r := e.do(t, h, rq)
					isAPI := kind == "API" || strings.HasPrefix(tc.path, "/api/")
					switch {
					case tc.want == allowed:
						wantForwarded(t, r)
					case tc.want == anonymous && isAPI:
						wantNotForwarded(t, r)
						wantJSONError(t, r, http.StatusUnauthorized)
					case tc.want == anonymous:
						wantNotForwarded(t, r)
						wantLoginRedirect(t, r, http.StatusFound, tc.path)
					case isAPI:
						wantNotForwarded(t, r)
						wantJSONError(t, r, http.StatusForbidden)
						wantNoStore(t, r)
					default:
						wantNotForwarded(t, r)
						if r.code != http.StatusForbidden {
							t.Errorf("status: got %d, want 403", r.code)
						}
						if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
							t.Errorf("Content-Type: got %q, want text/html", ct)
						}
						wantNoStore(t, r)
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
		routes := m{"routes": m{"authOnly": list("/login", "/register")}}
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
						r := e.do(t, hc.h, page(target).cookie(userCookie, tok))
						want := hc.home
						if tc.safe {
							want = tc.redirect
						}
						wantNotForwarded(t, r)
						if loc := r.header.Get("Location"); r.code != http.StatusFound || loc != want {
							t.Errorf("got %d Location %q, want 302 Location %q", r.code, loc, want)
						}
						wantNoStore(t, r)
					})
				}
			}
		})

		t.Run("served", func(t *testing.T) {
			for _, tc := range []struct {
				desc string
				rq   request
			}{
				{"anonymous", page("/login?redirect=%2Fdashboard")},
				{"guest", page("/register").cookie(guestCookie, g)},
				{"logged-in POST", page("/login").with(http.MethodPost).cookie(userCookie, tok)},
				{"logged-in API request", api("/login").cookie(userCookie, tok)},
			} {
				t.Run(tc.desc, func(t *testing.T) {
					wantForwarded(t, e.do(t, h, tc.rq))
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
			"protected": list("/docs", "/shop/cart", "/u/*", "/v/b/*"),
			"public":    list("/docs/public", "/shop", "/u/*", "/v/*/a"),
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
				r := e.do(t, h, api(tc.path))
				if tc.protected {
					wantNotForwarded(t, r)
					wantJSONError(t, r, http.StatusUnauthorized)
				} else {
					wantAnonymous(t, r)
				}
			})
		}
	})
}
