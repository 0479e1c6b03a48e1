package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
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
			"protected": list("/account", "/api/account", "/d/**/z"),
			"public":    list("/account/help"),
			"authOnly":  list("/login", "/register"),
			"excluded":  list("/static", "/favicon.ico"),
			"roles":     []interface{}{m{"path": "/admin", "roles": list("admin", "owner")}},
		}},
		"strict": m{"routes": m{
			"protectedByDefault": "true",
			"public":             list("/pub"),
			"authOnly":           list("/login"),
			"excluded":           list("/static"),
		}},
		"home": m{"routes": m{"authOnly": list("/login"), "homeUrl": "/home"}},
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
			rq       request
			redirect int // 0: JSON 401
		}{
			{"GET page", page("routes", "/account/settings?tab=2&q=a+b"), http.StatusFound},
			{"HEAD page", page("routes", "/account").with(http.MethodHead), http.StatusFound},
			{"POST page", page("routes", "/account/delete").with(http.MethodPost), http.StatusSeeOther},
			{"page-like request under /api", page("routes", "/api/account/me"), 0},
			{"JSON request", api("routes", "/account"), 0},
			{"no Accept header", request{site: "routes", target: "/account"}, 0},
			{"glob pattern", api("routes", "/d/q/r/z"), 0},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				before := s.be.Total()
				r := s.do(t, tc.rq)
				wantNotForwarded(t, r)
				if tc.redirect != 0 {
					wantLoginRedirect(t, r, tc.redirect, tc.rq.target)
				} else {
					wantJSONError(t, r, http.StatusUnauthorized)
					wantNoStore(t, r)
				}
				s.wantBackendUntouched(t, before)
			})
		}
	})

	t.Run("protected, logged in", func(t *testing.T) {
		r := s.do(t, page("routes", "/account/settings").cookie(userCookie, user))
		wantIdentity(t, r, user, rita, "u-rita", "user", "")
		wantNoSetCookie(t, r)
	})

	t.Run("public", func(t *testing.T) {
		for _, target := range []string{"/", "/news", "/account/help", "/accountx", "/d/q/y"} {
			wantAnonymous(t, s.do(t, api("routes", target)))
		}
	})

	t.Run("excluded", func(t *testing.T) {
		expired := fakebackend.Token("excluded-expired")
		for _, rq := range []request{
			page("routes", "/static/app.js").cookie(userCookie, expired),
			api("routes", "/favicon.ico").cookie(guestCookie, expired),
			page("strict", "/static/css/site.css"),
			page("routes", "/static/upload").with(http.MethodPost),
		} {
			before := s.be.Total()
			r := s.do(t, rq)
			wantAnonymous(t, r)
			wantNoSetCookie(t, r)
			s.wantBackendUntouched(t, before)
		}
		r := s.do(t, api("strict", "/staticky"))
		wantNotForwarded(t, r)
		wantJSONError(t, r, http.StatusUnauthorized)
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
				r := s.do(t, page(tc.site, target).cookie(userCookie, user))
				wantNotForwarded(t, r)
				if loc := r.header.Get("Location"); r.code != http.StatusFound || loc != tc.want {
					t.Errorf("got %d Location %q, want 302 Location %q", r.code, loc, tc.want)
				}
				wantNoStore(t, r)
			})
		}
		wantAnonymous(t, s.do(t, page("routes", "/login?redirect=%2Fdashboard")))
		wantForwarded(t, s.do(t, api("routes", "/register").cookie(userCookie, user)))
		wantForwarded(t, s.do(t, page("routes", "/login").with(http.MethodPost).cookie(userCookie, user)))
	})

	t.Run("roles", func(t *testing.T) {
		wantForwarded(t, s.do(t, page("routes", "/admin/users").cookie(userCookie, admin)))
		r := s.do(t, api("routes", "/admin/users").cookie(userCookie, editor))
		wantNotForwarded(t, r)
		wantJSONError(t, r, http.StatusForbidden)
		wantNoStore(t, r)
		r = s.do(t, page("routes", "/admin").cookie(userCookie, editor))
		wantNotForwarded(t, r)
		if r.code != http.StatusForbidden || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Errorf("page without the role: got %d %q, want 403 text/html", r.code, r.header.Get("Content-Type"))
		}
		wantNoStore(t, r)
		wantLoginRedirect(t, s.do(t, page("routes", "/admin")), http.StatusFound, "/admin")
		wantForwarded(t, s.do(t, page("routes", "/administer").cookie(userCookie, editor)))
	})

	t.Run("protectedByDefault", func(t *testing.T) {
		for _, target := range []string{"/", "/anything", "/publications"} {
			r := s.do(t, api("strict", target))
			wantNotForwarded(t, r)
			wantJSONError(t, r, http.StatusUnauthorized)
		}
		for _, target := range []string{"/pub", "/pub/x", "/login"} {
			wantAnonymous(t, s.do(t, api("strict", target)))
		}
		wantIdentity(t, s.do(t, api("strict", "/anything").cookie(userCookie, user)), user, rita, "u-rita", "user", "")
	})
}
