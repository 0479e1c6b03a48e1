package contract

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
)

// The request targets below are raw request-line targets: the harness
// builds requests with httptest.NewRequest, which parses them as Go's
// server does (url.ParseRequestURI), so Path is decoded and RawPath keeps
// the original escapes, exactly what Traefik hands the middleware.

// pathRoutes is the rule set of the path tests, as labels give it.
func pathRoutes(ambiguous string) m {
	r := m{"protected": "/dashboard", "public": "/docs", "excluded": "/static"}
	if ambiguous != "" {
		r["ambiguousPaths"] = ambiguous
	}
	return m{"routes": r}
}

// TestSecurityPathSpellingsOfAProtectedPath: every spelling of
// /dashboard that an app would route to /dashboard under some reading
// (matrix parameters kept as names or dropped, case, repeated slashes, dot
// segments, encoded dots, encoded unreserved characters) is protected,
// even where another reading leads to /static (excluded) or /docs
// (public): anonymous browsers are sent to the login page,
// API clients get 401, nothing reaches the app and no backend call is
// made. A logged-in user is served on each.
func TestSecurityPathSpellingsOfAProtectedPath(t *testing.T) {
	spellings := []string{
		"/dashboard;x=1",
		"/dashboard;jsessionid=abc/settings",
		"/DASHBOARD",
		"/Dashboard/settings",
		"//dashboard",
		"///dashboard",
		"/./dashboard",
		"/dashboard/",
		"/docs/../dashboard",
		"/docs/./../dashboard",
		"/docs/%2e%2e/dashboard",
		"/docs/%2E%2E/dashboard",
		"/docs;x=1/../dashboard",
		"/%64ashboard",
		"/static/../dashboard",
		"/static/%2e%2e/dashboard",
		"/dashboard?next=/docs",
		// Dot segments with parameters: Go reads the first as
		// /dashboard/static/app.js and Java as /static/app.js; Go reads
		// the others as /dashboard/…, Java as /docs/….
		"/dashboard/;x/../static/app.js",
		"/static;v=1/../dashboard",
		"/dashboard/;jsessionid=1/../docs",
		"/Dashboard/;x/../docs/guide",
	}
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(pathRoutes("")))

		t.Run("controls", func(t *testing.T) {
			// The rules really make /docs public and /static excluded, so
			// the spellings below are refused because of how they resolve.
			for _, p := range []string{"/docs/guide", "/static/app.js"} {
				testkit.WantAnonymous(t, e.do(t, h, testkit.Page(p)))
			}
			r := e.do(t, h, testkit.Page("/dashboard"))
			testkit.WantNotForwarded(t, r)
			testkit.WantLoginRedirect(t, r, http.StatusFound, "/dashboard")
		})

		for _, target := range spellings {
			t.Run(url.PathEscape(target), func(t *testing.T) {
				t.Run("anonymous page", func(t *testing.T) {
					before := e.be.Total()
					r := e.do(t, h, testkit.Page(target))
					testkit.WantNotForwarded(t, r)
					testkit.WantLoginRedirect(t, r, http.StatusFound, target)
					testkit.WantBackendUntouched(t, e.be, before)
				})
				t.Run("anonymous API", func(t *testing.T) {
					before := e.be.Total()
					r := e.do(t, h, testkit.API(target))
					testkit.WantNotForwarded(t, r)
					testkit.WantJSONError(t, r, http.StatusUnauthorized)
					testkit.WantNoStore(t, r)
					testkit.WantBackendUntouched(t, e.be, before)
				})
				t.Run("guest token is not enough", func(t *testing.T) {
					g := fakebackend.Token("paths-guest-" + target)
					e.be.SetUser(g, fakebackend.UserData("g-paths", "guest", nil))
					r := e.do(t, h, testkit.API(target).Cookie(testkit.GuestCookie, g))
					testkit.WantNotForwarded(t, r)
					testkit.WantJSONError(t, r, http.StatusUnauthorized)
				})
				t.Run("logged in", func(t *testing.T) {
					tok := fakebackend.Token("paths-user-" + target)
					data := fakebackend.UserData("u-paths", "user", nil)
					e.be.SetUser(tok, data)
					testkit.WantIdentity(t, e.do(t, h, testkit.Page(target).Cookie(testkit.UserCookie, tok)), tok, data, "u-paths", "user", "")
				})
			})
		}
	})
}

// ambiguousTargets are spellings whose meaning depends on the app behind
// Traefik: encoded "/" and "\", NUL, encoded ";", "?" and "#", double
// encoding, and dot segments with parameters (".." or "." to a Java
// servlet container, a name to Go, Node, nginx and Traefik).
var ambiguousTargets = []string{
	"/dashboard/..;/",
	"/dashboard/..;",
	"/DASHBOARD/..;/",
	"/dashboard/..;/static/app.js",
	"/Dashboard/..;/static/app.js",
	"/dashboard/%2e%2e;/static/app.js",
	"/dashboard/%2E%2E;/static/app.js",
	"/dashboard/.%2e;/static/app.js",
	"/dashboard/..;jsessionid=1/static/app.js",
	"/dashboard/..;x=1/docs",
	"/dashboard/.;/x",
	"/.;/dashboard",
	"/docs/..;/dashboard",
	"/docs/.;/x",
	"/static/..;/dashboard",
	"/static/%2e%2e;/dashboard",
	"/docs%2Fx",
	"/docs%2fx",
	"/docs%2F..%2Fdashboard",
	"/docs/..%2Fdashboard",
	"/docs/%2e%2e%2fdashboard",
	"/static%2F..%2Fdashboard",
	"/dashboard%00",
	"/docs/x%00/../../dashboard",
	"/a%5Cb",
	"/docs/..%5Cdashboard",
	"/docs%252Fx",
	"/docs/%252e%252e/dashboard",
	"/docs/%252Fx",
	"/dashboard%3Bx=1",
	"/docs%3F/../dashboard",
	"/docs%23/../dashboard",
}

// TestSecurityAmbiguousPathsRejected: with routes.ambiguousPaths unset
// (default) or "reject", ambiguous spellings get 400 before any backend
// call, whoever asks, and never reach the app.
func TestSecurityAmbiguousPathsRejected(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		handlers := []struct {
			name string
			h    http.Handler
		}{
			{"default", e.handler(t, e.opts(pathRoutes("")))},
			{"reject", e.handler(t, e.opts(pathRoutes("reject")))},
		}
		for _, hc := range handlers {
			for _, target := range ambiguousTargets {
				t.Run(hc.name+"/"+url.PathEscape(target), func(t *testing.T) {
					t.Run("anonymous API", func(t *testing.T) {
						before := e.be.Total()
						r := e.do(t, hc.h, testkit.API(target))
						testkit.WantNotForwarded(t, r)
						testkit.WantJSONError(t, r, http.StatusBadRequest)
						testkit.WantBackendUntouched(t, e.be, before)
					})
					t.Run("anonymous page", func(t *testing.T) {
						r := e.do(t, hc.h, testkit.Page(target))
						testkit.WantNotForwarded(t, r)
						if r.Code != http.StatusBadRequest {
							t.Errorf("status: got %d (Location %q), want 400", r.Code, r.Header.Get("Location"))
						}
					})
					t.Run("logged in", func(t *testing.T) {
						// A fresh valid token: a backend call would show
						// the path was decided after authentication.
						tok := fakebackend.Token("ambiguous-" + hc.name + target)
						e.be.SetUser(tok, fakebackend.UserData("u-amb", "user", nil))
						before := e.be.Total()
						r := e.do(t, hc.h, testkit.API(target).Cookie(testkit.UserCookie, tok))
						testkit.WantNotForwarded(t, r)
						testkit.WantJSONError(t, r, http.StatusBadRequest)
						testkit.WantBackendUntouched(t, e.be, before)
					})
				})
			}
		}
	})
}

// TestSecurityAmbiguousPathsProtect: with routes.ambiguousPaths=protect,
// an ambiguous spelling is treated as protected, whatever rule its decoded
// form falls under (public, excluded or none): anonymous visitors are
// refused and logged-in users are served.
func TestSecurityAmbiguousPathsProtect(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(pathRoutes("protect")))
		tok := fakebackend.Token("ambiguous-protect-user")
		data := fakebackend.UserData("u-amb-p", "user", nil)
		e.be.SetUser(tok, data)

		t.Run("controls", func(t *testing.T) {
			testkit.WantAnonymous(t, e.do(t, h, testkit.API("/docs/x")))
			testkit.WantAnonymous(t, e.do(t, h, testkit.API("/static/x.js")))
		})
		for _, target := range ambiguousTargets {
			t.Run(url.PathEscape(target), func(t *testing.T) {
				t.Run("anonymous API", func(t *testing.T) {
					before := e.be.Total()
					r := e.do(t, h, testkit.API(target))
					testkit.WantNotForwarded(t, r)
					testkit.WantJSONError(t, r, http.StatusUnauthorized)
					testkit.WantBackendUntouched(t, e.be, before)
				})
				t.Run("anonymous page", func(t *testing.T) {
					r := e.do(t, h, testkit.Page(target))
					testkit.WantNotForwarded(t, r)
					if r.Code != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), "/login?") {
						t.Errorf("got %d Location %q, want 302 to /login", r.Code, r.Header.Get("Location"))
					}
					testkit.WantNoStore(t, r)
				})
				t.Run("logged in", func(t *testing.T) {
					testkit.WantIdentity(t, e.do(t, h, testkit.API(target).Cookie(testkit.UserCookie, tok)), tok, data, "u-amb-p", "user", "")
				})
			})
		}
	})
}

// TestSecurityAmbiguousPathsOption: any other value is refused by New.
func TestSecurityAmbiguousPathsOption(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		_, err := e.factory(e.opts(pathRoutes("allow")), e.up, t.Name())
		if err == nil || !strings.Contains(err.Error(), "routes.ambiguousPaths") {
			t.Errorf("New with routes.ambiguousPaths=allow: got error %v, want one naming routes.ambiguousPaths", err)
		}
	})
}

// dotParamRoleTargets reach /admin under some reading: Go reads "..;" as
// a name (so /admin/..;/x is below /admin), Java as ".." (so /x/..;/admin
// is /admin).
var dotParamRoleTargets = []string{
	"/admin/..;/x",
	"/ADMIN/..;/x",
	"/Admin/%2e%2e;/x",
	"/admin/.%2E;/x",
	"/admin/..;jsessionid=1/",
	"/x/..;/admin",
	"/static/..;/admin",
}

// TestSecurityPathDotParamsKeepRoleRules: a dot segment with parameters
// never escapes a role rule: refused with 400 by default; with
// routes.ambiguousPaths=protect a logged-in user without the role gets 403
// and an admin is served. A role rule under the literal or the servlet
// reading of a path with parameters applies too.
func TestSecurityPathDotParamsKeepRoleRules(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		roles := m{"roles": []interface{}{m{"path": "/admin", "roles": testkit.List("admin")}}}
		strict := e.handler(t, e.opts(pathRoutes(""), m{"routes": roles}))
		protect := e.handler(t, e.opts(pathRoutes("protect"), m{"routes": roles}))
		user := fakebackend.Token("dotparams-user")
		e.be.SetUser(user, fakebackend.UserData("u-dp", "user", "editor"))
		admin := fakebackend.Token("dotparams-admin")
		adminData := fakebackend.UserData("u-dp-admin", "user", "admin")
		e.be.SetUser(admin, adminData)

		for _, target := range dotParamRoleTargets {
			t.Run(url.PathEscape(target), func(t *testing.T) {
				t.Run("reject", func(t *testing.T) {
					before := e.be.Total()
					r := e.do(t, strict, testkit.API(target).Cookie(testkit.UserCookie, user))
					testkit.WantNotForwarded(t, r)
					testkit.WantJSONError(t, r, http.StatusBadRequest)
					testkit.WantBackendUntouched(t, e.be, before)
				})
				t.Run("protect anonymous", func(t *testing.T) {
					r := e.do(t, protect, testkit.Page(target))
					testkit.WantNotForwarded(t, r)
					testkit.WantLoginRedirect(t, r, http.StatusFound, target)
				})
				t.Run("protect without the role", func(t *testing.T) {
					r := e.do(t, protect, testkit.API(target).Cookie(testkit.UserCookie, user))
					testkit.WantNotForwarded(t, r)
					testkit.WantJSONError(t, r, http.StatusForbidden)
				})
				t.Run("protect admin", func(t *testing.T) {
					testkit.WantIdentity(t, e.do(t, protect, testkit.API(target).Cookie(testkit.UserCookie, admin)), admin, adminData, "u-dp-admin", "user", "")
				})
			})
		}
		for _, target := range []string{"/admin;x=1", "/ADMIN;jsessionid=2/users", "/admin/;x/../users", "/x/;y/../../admin"} {
			t.Run("params/"+url.PathEscape(target), func(t *testing.T) {
				r := e.do(t, strict, testkit.API(target).Cookie(testkit.UserCookie, user))
				testkit.WantNotForwarded(t, r)
				testkit.WantJSONError(t, r, http.StatusForbidden)
				testkit.WantIdentity(t, e.do(t, strict, testkit.API(target).Cookie(testkit.UserCookie, admin)), admin, adminData, "u-dp-admin", "user", "")
			})
		}
	})
}

// TestSecurityPathBenignParams: parameters that do not change which rule
// applies under any reading work as before: public stays public, a static
// asset with a cache-busting parameter stays excluded (no backend call).
func TestSecurityPathBenignParams(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(pathRoutes("")))
		for _, target := range []string{"/docs;x=1", "/docs/guide;jsessionid=1", "/other;x=1/y", "/docs/...;/x"} {
			t.Run(url.PathEscape(target), func(t *testing.T) {
				testkit.WantAnonymous(t, e.do(t, h, testkit.Page(target)))
			})
		}
		t.Run("excluded", func(t *testing.T) {
			before := e.be.Total()
			testkit.WantAnonymous(t, e.do(t, h, testkit.Page("/static/app.js;v=2").WithHeader(testkit.HeaderUser, "spoofed")))
			testkit.WantBackendUntouched(t, e.be, before)
		})
	})
}
