package e2e

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// TestI18n: locales through Traefik: detection order, the rules deciding
// on the path without its prefix (spellings included, as Traefik hands
// them over), the locale header owned (client copies stripped) and set on
// the response, redirects keeping the prefix, and remembered sessions.
func TestI18n(t *testing.T) {
	s := start(t, traefikrun.Options{})
	rules := m{
		"protected": list("/dashboard"),
		"authOnly":  list("/login"),
		"public":    list("/about"),
		"excluded":  list("/static"),
		"roles":     []interface{}{m{"path": "/admin", "roles": list("admin")}},
	}
	s.deploy(t, sites{
		"i18n":   m{"routes": rules, "i18n": m{"locales": list("en", "tr", "pt-BR"), "defaultLocale": "tr"}},
		"label":  m{"routes": rules, "i18n": m{"locales": "en,tr", "header": "X-App-Lang", "cookie": "NEXT_LOCALE"}},
		"strict": m{"routes": m{"protectedByDefault": "true", "public": list("/about"), "authOnly": list("/login")}, "i18n": m{"locales": list("en", "tr")}},
	})
	user := fakebackend.Token("e2e-i18n-user")
	s.be.SetUser(user, fakebackend.UserData("u-i18n", "user", nil))
	admin := fakebackend.Token("e2e-i18n-admin")
	s.be.SetUser(admin, fakebackend.UserData("u-i18n-admin", "user", "admin"))

	locale := func(t *testing.T, r *result, header, want string) {
		t.Helper()
		wantForwarded(t, r)
		for k, v := range r.upstream {
			if normHeader(k) == normHeader(header) && (k != header || len(v) != 1 || v[0] != want) {
				t.Errorf("upstream %s: got %q, want only %s [%q]", k, v, header, want)
			}
		}
		if r.upstream.Get(header) != want {
			t.Errorf("upstream %s: got %q, want %q", header, r.upstream.Get(header), want)
		}
		if got := r.header.Values(header); len(got) != 1 || got[0] != want {
			t.Errorf("response %s: got %q, want [%q]", header, got, want)
		}
	}

	t.Run("detection order", func(t *testing.T) {
		for _, tc := range []struct {
			desc string
			rq   request
			want string
		}{
			{"prefix", page("i18n", "/en/about").cookie("locale", "pt-BR").withHeader("Accept-Language", "pt"), "en"},
			{"prefix in another case", page("i18n", "/PT-br/about"), "pt-BR"},
			{"cookie", page("i18n", "/about").cookie("locale", "en").withHeader("Accept-Language", "pt-BR"), "en"},
			{"Accept-Language", page("i18n", "/about").withHeader("Accept-Language", "de, pt;q=0.9, en;q=0.8"), "pt-BR"},
			{"default", page("i18n", "/about").withHeader("Accept-Language", "de"), "tr"},
			{"excluded path", page("i18n", "/static/app.js").withHeader("Accept-Language", "en-GB"), "en"},
			{"custom cookie and header", page("label", "/about").cookie("NEXT_LOCALE", "tr").withHeader("Accept-Language", "en"), "tr"},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				header := "X-Locale"
				if tc.rq.site == "label" {
					header = "X-App-Lang"
				}
				locale(t, s.do(t, tc.rq), header, tc.want)
			})
		}
	})

	t.Run("client copies stripped", func(t *testing.T) {
		for _, target := range []string{"/tr/about", "/static/x.css", "/tr/dashboard"} {
			rq := page("i18n", target).cookie(userCookie, user).withHeader("X-Locale", "evil")
			rq.rawKeys = map[string]string{"X_Locale": "evil", "x.locale": "evil", "X-LOCALE": "evil"}
			locale(t, s.do(t, rq), "X-Locale", "tr") // the prefix, or the default
		}
		rq := page("label", "/en/about").withHeader("X-App-Lang", "evil")
		rq.rawKeys = map[string]string{"X_App_Lang": "evil"}
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
					rq = rq.cookie(userCookie, tok)
				}
				want := []int{tc.anonymous, tc.asUser, tc.admin}[i]
				if r := s.do(t, rq); r.code != want {
					t.Errorf("%s as %d: status %d, want %d (body %q)", tc.target, i, r.code, want, r.body)
				}
			}
		}
		// Spellings Traefik may clean or refuse before authlayer sees
		// them: never let through anonymously.
		for _, target := range []string{"/tr/../admin", "/x/../tr/admin", "/tr%2fadmin", "/tr/..%2Fadmin", "/tr/%2e%2e/admin"} {
			r := s.do(t, api("i18n", target))
			if r.code == http.StatusOK || r.upstream != nil {
				t.Errorf("%s anonymous: status %d (forwarded %v), want refused", target, r.code, r.upstream != nil)
			}
		}
		before := s.be.Total()
		r := s.do(t, page("i18n", "/pt-BR/static/app.js").cookie(userCookie, fakebackend.Token("e2e-i18n-unknown")))
		wantAnonymous(t, r)
		wantNoSetCookie(t, r)
		if got := s.be.Total() - before; got != 0 {
			t.Errorf("excluded under a prefix: %d backend calls, want 0", got)
		}
		for target, want := range map[string]int{"/en/about": 200, "/en/login": 200, "/en/other": 401, "/EN/about": 401} {
			if r := s.do(t, api("strict", target)); r.code != want {
				t.Errorf("protectedByDefault %s: status %d, want %d", target, r.code, want)
			}
		}
	})

	t.Run("redirects keep the prefix", func(t *testing.T) {
		q := url.QueryEscape
		for _, tc := range []struct {
			desc     string
			rq       request
			status   int
			location string
		}{
			{"login", page("i18n", "/tr/dashboard?tab=2"), http.StatusFound, "/tr/login?redirect=" + q("/tr/dashboard?tab=2")},
			{"login after POST", page("i18n", "/en/dashboard").with(http.MethodPost), http.StatusSeeOther, "/en/login?redirect=" + q("/en/dashboard")},
			{"no prefix", page("i18n", "/dashboard").cookie("locale", "en"), http.StatusFound, "/login?redirect=" + q("/dashboard")},
			{"home", page("i18n", "/pt-BR/login").cookie(userCookie, user), http.StatusFound, "/pt-BR"},
			{"return-to kept", page("i18n", "/tr/login?redirect="+q("/tr/dashboard")).cookie(userCookie, user), http.StatusFound, "/tr/dashboard"},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				r := s.do(t, tc.rq)
				wantNotForwarded(t, r)
				if r.code != tc.status || r.header.Get("Location") != tc.location {
					t.Errorf("got %d Location %q, want %d %q", r.code, r.header.Get("Location"), tc.status, tc.location)
				}
				wantNoStore(t, r)
			})
		}
	})

	t.Run("remembered session", func(t *testing.T) {
		tok := fakebackend.Token("e2e-i18n-memo")
		s.be.SetUser(tok, fakebackend.UserData("u-i18n-memo", "user", nil))
		for i, tc := range []struct {
			rq   request
			want string
		}{
			{page("i18n", "/en/dashboard"), "en"},
			{page("i18n", "/tr/dashboard"), "tr"},
			{page("i18n", "/dashboard").withHeader("Accept-Language", "pt-BR"), "pt-BR"},
			{page("i18n", "/dashboard"), "tr"},
		} {
			r := s.do(t, tc.rq.cookie(userCookie, tok))
			if r.upstream.Get(hUserID) != "u-i18n-memo" {
				t.Errorf("request %d: upstream %s %q", i, hUserID, r.upstream.Get(hUserID))
			}
			locale(t, r, "X-Locale", tc.want)
		}
		if got := s.be.CountFor(fakebackend.Validate, tok); got != 1 {
			t.Errorf("validations: %d, want 1", got)
		}
	})
}
