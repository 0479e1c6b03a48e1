package e2e

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// TestI18n: locales through Traefik: detection order, the rules deciding
// on the path without its prefix (spellings included, as Traefik hands
// them over), the locale header owned (client copies stripped) and set on
// the response, redirects keeping the prefix, and remembered sessions.
func TestI18n(t *testing.T) {
	s := start(t, traefikrun.Options{})
	rules := m{
		"protected": testkit.List("/dashboard"),
		"authOnly":  testkit.List("/login"),
		"public":    testkit.List("/about"),
		"excluded":  testkit.List("/static"),
		"roles":     []interface{}{m{"path": "/admin", "roles": testkit.List("admin")}},
	}
	s.deploy(t, sites{
		"i18n":   m{"routes": rules, "i18n": m{"locales": testkit.List("en", "tr", "pt-BR"), "defaultLocale": "tr"}},
		"label":  m{"routes": rules, "i18n": m{"locales": "en,tr", "header": "X-App-Lang", "cookie": "NEXT_LOCALE"}},
		"strict": m{"routes": m{"protectedByDefault": "true", "public": testkit.List("/about"), "authOnly": testkit.List("/login")}, "i18n": m{"locales": testkit.List("en", "tr")}},
	})
	user := fakebackend.Token("e2e-i18n-user")
	s.be.SetUser(user, fakebackend.UserData("u-i18n", "user", nil))
	admin := fakebackend.Token("e2e-i18n-admin")
	s.be.SetUser(admin, fakebackend.UserData("u-i18n-admin", "user", "admin"))

	locale := func(t *testing.T, r *testkit.Result, header, want string) {
		t.Helper()
		testkit.WantForwarded(t, r)
		for k, v := range r.Upstream {
			if testkit.NormHeader(k) == testkit.NormHeader(header) && (k != header || len(v) != 1 || v[0] != want) {
				t.Errorf("upstream %s: got %q, want only %s [%q]", k, v, header, want)
			}
		}
		if r.Upstream.Get(header) != want {
			t.Errorf("upstream %s: got %q, want %q", header, r.Upstream.Get(header), want)
		}
		if got := r.Header.Values(header); len(got) != 1 || got[0] != want {
			t.Errorf("response %s: got %q, want [%q]", header, got, want)
		}
	}

	t.Run("detection order", func(t *testing.T) {
		for _, tc := range []struct {
			desc string
			rq   testkit.Request
			want string
		}{
			{"prefix", page("i18n", "/en/about").Cookie("locale", "pt-BR").WithHeader("Accept-Language", "pt"), "en"},
			{"prefix in another case", page("i18n", "/PT-br/about"), "pt-BR"},
			{"cookie", page("i18n", "/about").Cookie("locale", "en").WithHeader("Accept-Language", "pt-BR"), "en"},
			{"Accept-Language", page("i18n", "/about").WithHeader("Accept-Language", "de, pt;q=0.9, en;q=0.8"), "pt-BR"},
			{"default", page("i18n", "/about").WithHeader("Accept-Language", "de"), "tr"},
			{"excluded path", page("i18n", "/static/app.js").WithHeader("Accept-Language", "en-GB"), "en"},
			{"custom cookie and header", page("label", "/about").Cookie("NEXT_LOCALE", "tr").WithHeader("Accept-Language", "en"), "tr"},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				header := "X-Locale"
				if tc.rq.Site == "label" {
					header = "X-App-Lang"
				}
				locale(t, s.do(t, tc.rq), header, tc.want)
			})
		}
	})

	t.Run("client copies stripped", func(t *testing.T) {
		for _, target := range []string{"/tr/about", "/static/x.css", "/tr/dashboard"} {
			rq := page("i18n", target).Cookie(testkit.UserCookie, user).WithHeader("X-Locale", "evil")
			rq.RawKeys = map[string]string{"X_Locale": "evil", "x.locale": "evil", "X-LOCALE": "evil"}
			locale(t, s.do(t, rq), "X-Locale", "tr") // the prefix, or the default
		}
		rq := page("label", "/en/about").WithHeader("X-App-Lang", "evil")
		rq.RawKeys = map[string]string{"X_App_Lang": "evil"}
		locale(t, s.do(t, rq), "X-App-Lang", "en")
	})

	t.Run("rules without the prefix", func(t *testing.T) {
		for _, tc := range []struct {
			target                   string
			anonymous, asUser, admin int
		}{
			{"/tr/dashboard", 401, 200, 200},
			{"/TR/Dashboard", 401, 200, 200},
			{"/tr/admin", 401, 403, 200},
			{"/En/admin/x", 401, 403, 200},
			{"//tr/admin", 401, 403, 200},
			{"/en;v=1/admin", 401, 403, 200},
			{"/tr/..;/admin", 400, 400, 400},
			{"/tr", 200, 200, 200},
			{"/tr/about", 200, 200, 200},
		} {
			for i, tok := range []string{"", user, admin} {
				rq := api("i18n", tc.target)
				if tok != "" {
					rq = rq.Cookie(testkit.UserCookie, tok)
				}
				want := []int{tc.anonymous, tc.asUser, tc.admin}[i]
				if r := s.do(t, rq); r.Code != want {
					t.Errorf("%s as %d: status %d, want %d (body %q)", tc.target, i, r.Code, want, r.Body)
				}
			}
		}
		// Spellings Traefik may clean or refuse before authlayer sees
		// them: never let through anonymously.
		for _, target := range []string{"/tr/../admin", "/x/../tr/admin", "/tr%2fadmin", "/tr/..%2Fadmin", "/tr/%2e%2e/admin"} {
			r := s.do(t, api("i18n", target))
			if r.Code == http.StatusOK || r.Upstream != nil {
				t.Errorf("%s anonymous: status %d (forwarded %v), want refused", target, r.Code, r.Upstream != nil)
			}
		}
		before := s.be.Total()
		r := s.do(t, page("i18n", "/pt-BR/static/app.js").Cookie(testkit.UserCookie, fakebackend.Token("e2e-i18n-unknown")))
		testkit.WantAnonymous(t, r)
		testkit.WantNoSetCookie(t, r)
		if got := s.be.Total() - before; got != 0 {
			t.Errorf("excluded under a prefix: %d backend calls, want 0", got)
		}
		for target, want := range map[string]int{"/en/about": 200, "/en/login": 200, "/en/other": 401, "/EN/about": 401} {
			if r := s.do(t, api("strict", target)); r.Code != want {
				t.Errorf("protectedByDefault %s: status %d, want %d", target, r.Code, want)
			}
		}
	})

	t.Run("redirects keep the prefix", func(t *testing.T) {
		q := url.QueryEscape
		for _, tc := range []struct {
			desc     string
			rq       testkit.Request
			status   int
			location string
		}{
			{"login", page("i18n", "/tr/dashboard?tab=2"), http.StatusFound, "/tr/login?redirect=" + q("/tr/dashboard?tab=2")},
			{"login after POST", page("i18n", "/en/dashboard").With(http.MethodPost), http.StatusSeeOther, "/en/login?redirect=" + q("/en/dashboard")},
			{"no prefix", page("i18n", "/dashboard").Cookie("locale", "en"), http.StatusFound, "/login?redirect=" + q("/dashboard")},
			{"home", page("i18n", "/pt-BR/login").Cookie(testkit.UserCookie, user), http.StatusFound, "/pt-BR"},
			{"return-to kept", page("i18n", "/tr/login?redirect="+q("/tr/dashboard")).Cookie(testkit.UserCookie, user), http.StatusFound, "/tr/dashboard"},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				r := s.do(t, tc.rq)
				testkit.WantNotForwarded(t, r)
				if r.Code != tc.status || r.Header.Get("Location") != tc.location {
					t.Errorf("got %d Location %q, want %d %q", r.Code, r.Header.Get("Location"), tc.status, tc.location)
				}
				testkit.WantNoStore(t, r)
			})
		}
	})

	t.Run("remembered session", func(t *testing.T) {
		tok := fakebackend.Token("e2e-i18n-memo")
		s.be.SetUser(tok, fakebackend.UserData("u-i18n-memo", "user", nil))
		for i, tc := range []struct {
			rq   testkit.Request
			want string
		}{
			{page("i18n", "/en/dashboard"), "en"},
			{page("i18n", "/tr/dashboard"), "tr"},
			{page("i18n", "/dashboard").WithHeader("Accept-Language", "pt-BR"), "pt-BR"},
			{page("i18n", "/dashboard"), "tr"},
		} {
			r := s.do(t, tc.rq.Cookie(testkit.UserCookie, tok))
			if r.Upstream.Get(testkit.HeaderUserID) != "u-i18n-memo" {
				t.Errorf("request %d: upstream %s %q", i, testkit.HeaderUserID, r.Upstream.Get(testkit.HeaderUserID))
			}
			locale(t, r, "X-Locale", tc.want)
		}
		if got := s.be.CountFor(fakebackend.Validate, tok); got != 1 {
			t.Errorf("validations: %d, want 1", got)
		}
	})
}
