package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// TestRoutes: every route kind and its answers through Traefik: protected
// (login redirect 302/303 for pages, JSON 401 for APIs), public, auth-only
// (logged-in users sent on), role rules (403), excluded (no backend call,
// no cookie), protectedByDefault.
func TestRoutes(t *testing.T) {
	s := start(t, traefikrun.Options{})
	s.deploy(t, sites{
		"routes": m{"routes": m{
			"protected": testkit.List("/account", "/api/account", "/d/**/z"),
			"public":    testkit.List("/account/help"),
			"authOnly":  testkit.List("/login", "/register"),
			"excluded":  testkit.List("/static", "/favicon.ico"),
			"roles":     []interface{}{m{"path": "/admin", "roles": testkit.List("admin", "owner")}},
		}},
		"strict": m{"routes": m{
			"protectedByDefault": "true",
			"public":             testkit.List("/pub"),
			"authOnly":           testkit.List("/login"),
			"excluded":           testkit.List("/static"),
		}},
		"home": m{"routes": m{"authOnly": testkit.List("/login"), "homeUrl": "/home"}},
	})
	user := fakebackend.Token("rita")
	rita := fakebackend.UserData("u-rita", "user", nil)
	s.be.SetUser(user, rita)
	admin := fakebackend.Token("root")
	s.be.SetUser(admin, fakebackend.UserData("u-root", "user", []interface{}{"editor", "admin"}))
	editor := fakebackend.Token("ed")
	s.be.SetUser(editor, fakebackend.UserData("u-ed", "user", "editor"))

	t.Run("protected, anonymous", func(t *testing.T) {
		for _, tc := range []struct {
			desc     string
			rq       testkit.Request
			redirect int // 0: JSON 401
		}{
			{"GET page", page("routes", "/account/settings?tab=2&q=a+b"), http.StatusFound},
			{"HEAD page", page("routes", "/account").With(http.MethodHead), http.StatusFound},
			{"POST page", page("routes", "/account/delete").With(http.MethodPost), http.StatusSeeOther},
			{"page-like request under /api", page("routes", "/api/account/me"), 0},
			{"JSON request", api("routes", "/account"), 0},
			{"no Accept header", testkit.Request{Site: "routes", Target: "/account"}, 0},
			{"glob pattern", api("routes", "/d/q/r/z"), 0},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				before := s.be.Total()
				r := s.do(t, tc.rq)
				testkit.WantNotForwarded(t, r)
				if tc.redirect != 0 {
					testkit.WantLoginRedirect(t, r, tc.redirect, tc.rq.Target)
				} else {
					testkit.WantJSONError(t, r, http.StatusUnauthorized)
					testkit.WantNoStore(t, r)
				}
				testkit.WantBackendUntouched(t, s.be, before)
			})
		}
	})

	t.Run("protected, logged in", func(t *testing.T) {
		r := s.do(t, page("routes", "/account/settings").Cookie(testkit.UserCookie, user))
		testkit.WantIdentity(t, r, user, rita, "u-rita", "user", "")
		testkit.WantNoSetCookie(t, r)
	})

	t.Run("public", func(t *testing.T) {
		for _, target := range []string{"/", "/news", "/account/help", "/accountx", "/d/q/y"} {
			testkit.WantAnonymous(t, s.do(t, api("routes", target)))
		}
	})

	t.Run("excluded", func(t *testing.T) {
		expired := fakebackend.Token("excluded-expired")
		for _, rq := range []testkit.Request{
			page("routes", "/static/app.js").Cookie(testkit.UserCookie, expired),
			api("routes", "/favicon.ico").Cookie(testkit.GuestCookie, expired),
			page("strict", "/static/css/site.css"),
			page("routes", "/static/upload").With(http.MethodPost),
		} {
			before := s.be.Total()
			r := s.do(t, rq)
			testkit.WantAnonymous(t, r)
			testkit.WantNoSetCookie(t, r)
			testkit.WantBackendUntouched(t, s.be, before)
		}
		r := s.do(t, api("strict", "/staticky"))
		testkit.WantNotForwarded(t, r)
		testkit.WantJSONError(t, r, http.StatusUnauthorized)
	})

	t.Run("auth-only", func(t *testing.T) {
		for _, tc := range []struct {
			desc, site, redirect, want string
		}{
			{"local redirect", "routes", "/dashboard?x=1", "/dashboard?x=1"},
			{"no parameter", "routes", "", "/"},
			{"protocol-relative", "routes", "//evil.example/x", "/"},
			{"absolute URL", "routes", "https://evil.example/", "/"},
			{"backslash", "home", "/\\evil.example", "/home"},
			{"homeUrl", "home", "", "/home"},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				target := "/login"
				if tc.redirect != "" {
					target += "?redirect=" + url.QueryEscape(tc.redirect)
				}
				r := s.do(t, page(tc.site, target).Cookie(testkit.UserCookie, user))
				testkit.WantNotForwarded(t, r)
				if loc := r.Header.Get("Location"); r.Code != http.StatusFound || loc != tc.want {
					t.Errorf("got %d Location %q, want 302 Location %q", r.Code, loc, tc.want)
				}
				testkit.WantNoStore(t, r)
			})
		}
		testkit.WantAnonymous(t, s.do(t, page("routes", "/login?redirect=%2Fdashboard")))
		testkit.WantForwarded(t, s.do(t, api("routes", "/register").Cookie(testkit.UserCookie, user)))
		testkit.WantForwarded(t, s.do(t, page("routes", "/login").With(http.MethodPost).Cookie(testkit.UserCookie, user)))
	})

	t.Run("roles", func(t *testing.T) {
		testkit.WantForwarded(t, s.do(t, page("routes", "/admin/users").Cookie(testkit.UserCookie, admin)))
		r := s.do(t, api("routes", "/admin/users").Cookie(testkit.UserCookie, editor))
		testkit.WantNotForwarded(t, r)
		testkit.WantJSONError(t, r, http.StatusForbidden)
		testkit.WantNoStore(t, r)
		r = s.do(t, page("routes", "/admin").Cookie(testkit.UserCookie, editor))
		testkit.WantNotForwarded(t, r)
		if r.Code != http.StatusForbidden || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Errorf("page without the role: got %d %q, want 403 text/html", r.Code, r.Header.Get("Content-Type"))
		}
		testkit.WantNoStore(t, r)
		testkit.WantLoginRedirect(t, s.do(t, page("routes", "/admin")), http.StatusFound, "/admin")
		testkit.WantForwarded(t, s.do(t, page("routes", "/administer").Cookie(testkit.UserCookie, editor)))
	})

	t.Run("protectedByDefault", func(t *testing.T) {
		for _, target := range []string{"/", "/anything", "/publications"} {
			r := s.do(t, api("strict", target))
			testkit.WantNotForwarded(t, r)
			testkit.WantJSONError(t, r, http.StatusUnauthorized)
		}
		for _, target := range []string{"/pub", "/pub/x", "/login"} {
			testkit.WantAnonymous(t, s.do(t, api("strict", target)))
		}
		testkit.WantIdentity(t, s.do(t, api("strict", "/anything").Cookie(testkit.UserCookie, user)), user, rita, "u-rita", "user", "")
	})
}
