package contract

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
)

// i18n: the locale from the path prefix, else the cookie, else
// Accept-Language, else the default; rules decide without the prefix;
// the locale reaches the app in X-Locale (client copies stripped) and the
// response; login and home redirects keep the prefix.

const hLocale = "X-Locale"

// i18nOptions are locales en, tr, pt-BR (default tr) with a rule of each
// kind.
func i18nOptions(extra ...m) m {
	o := m{
		"i18n": m{"locales": testkit.List("en", "tr", "pt-BR"), "defaultLocale": "tr"},
		"routes": m{
			"protected": testkit.List("/dashboard"),
			"authOnly":  testkit.List("/login"),
			"public":    testkit.List("/about"),
			"excluded":  testkit.List("/static"),
			"roles":     []interface{}{m{"path": "/admin", "roles": testkit.List("admin")}},
		},
	}
	for _, x := range extra {
		testkit.Merge(o, x)
	}
	return o
}

// wantLocale checks the locale the app received (exactly one X-Locale, no
// alias spelling) and the response's X-Locale.
func wantLocale(t *testing.T, r *testkit.Result, want string) {
	t.Helper()
	if r.Upstream != nil {
		for k, v := range r.Upstream {
			if testkit.NormHeader(k) == "x-locale" && (k != hLocale || len(v) != 1 || v[0] != want) {
				t.Errorf("upstream %s: got %q, want only %s [%q]", k, v, hLocale, want)
			}
		}
		if r.Upstream.Get(hLocale) != want {
			t.Errorf("upstream %s: got %q, want %q", hLocale, r.Upstream.Get(hLocale), want)
		}
	}
	if got := r.Header.Values(hLocale); len(got) != 1 || got[0] != want {
		t.Errorf("response %s: got %q, want [%q]", hLocale, got, want)
	}
}

func wantRedirectTo(t *testing.T, r *testkit.Result, status int, location string) {
	t.Helper()
	testkit.WantNotForwarded(t, r)
	if r.Code != status || r.Header.Get("Location") != location {
		t.Errorf("got %d Location %q, want %d Location %q", r.Code, r.Header.Get("Location"), status, location)
	}
}

// TestI18nLocaleDetection: prefix, cookie, Accept-Language, default, in
// that order; the configured spelling is the one forwarded.
func TestI18nLocaleDetection(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		for _, form := range []struct {
			desc    string
			locales interface{}
		}{
			{"list", testkit.List("en", "tr", "pt-BR")},
			{"comma-separated label", "en,tr,pt-BR"},
		} {
			t.Run(form.desc, func(t *testing.T) {
				h := e.handler(t, e.opts(i18nOptions(m{"i18n": m{"locales": form.locales}})))
				for _, tc := range []struct {
					desc string
					rq   testkit.Request
					want string
				}{
					{"prefix beats cookie and header", testkit.Page("/en/about").Cookie("locale", "pt-BR").WithHeader("Accept-Language", "tr"), "en"},
					{"prefix in another case", testkit.Page("/PT-br/about?x=1"), "pt-BR"},
					{"the prefix alone", testkit.Page("/en"), "en"},
					{"repeated slashes", testkit.Page("//en//about"), "en"},
					{"prefix after dot segments", testkit.Page("/x/../en/about"), "en"},
					{"a longer segment is no prefix", testkit.Page("/english/about"), "tr"},
					{"a later segment is no prefix", testkit.Page("/about/en"), "tr"},
					{"cookie beats header", testkit.Page("/about").Cookie("locale", "en").WithHeader("Accept-Language", "pt-BR"), "en"},
					{"cookie in another case", testkit.Page("/about").Cookie("locale", "PT-BR"), "pt-BR"},
					{"unknown cookie value", testkit.Page("/about").Cookie("locale", "de").WithHeader("Accept-Language", "en"), "en"},
					{"q-values", testkit.Page("/about").WithHeader("Accept-Language", "de-DE, en;q=0.4, pt;q=0.8"), "pt-BR"},
					{"region dropped", testkit.Page("/about").WithHeader("Accept-Language", "en-US,en;q=0.9"), "en"},
					{"nothing matches", testkit.Page("/about").WithHeader("Accept-Language", "de, fr;q=0.5"), "tr"},
					{"nothing sent", testkit.Page("/about"), "tr"},
					{"API request", testkit.API("/api/x").WithHeader("Accept-Language", "en"), "en"},
					{"excluded path", testkit.Page("/static/app.js").Cookie("locale", "en"), "en"},
				} {
					t.Run(tc.desc, func(t *testing.T) {
						r := e.do(t, h, tc.rq)
						testkit.WantForwarded(t, r)
						wantLocale(t, r, tc.want)
					})
				}
			})
		}
	})
}

// TestI18nLocaleHeaderOwned: a client's copy of the locale header, under
// any spelling, never reaches the app, on any kind of path; a custom
// header name is owned the same way.
func TestI18nLocaleHeaderOwned(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		user := fakebackend.Token("i18n-owned")
		e.be.SetUser(user, fakebackend.UserData("u-owned", "user", nil))
		h := e.handler(t, e.opts(i18nOptions()))
		for _, target := range []string{"/en/about", "/static/x.css", "/en/dashboard", "/about", "/en/static/x.css"} {
			for _, key := range []string{"X-Locale", "X_Locale", "x.locale", "X~Locale", "x-LOCALE"} {
				rq := testkit.Page(target).Cookie(testkit.UserCookie, user).WithRawKey(key, "evil")
				r := e.do(t, h, rq)
				testkit.WantForwarded(t, r)
				want := "tr"
				if strings.HasPrefix(target, "/en") {
					want = "en"
				}
				wantLocale(t, r, want)
			}
		}
		custom := e.handler(t, e.opts(i18nOptions(m{"i18n": m{"header": "X-App-Lang"}})))
		r := e.do(t, custom, testkit.Page("/pt-BR/about").WithRawKey("X_App_Lang", "evil").WithHeader("X-App-Lang", "evil"))
		testkit.WantForwarded(t, r)
		for k, v := range r.Upstream {
			if testkit.NormHeader(k) == "x-app-lang" && (k != "X-App-Lang" || len(v) != 1 || v[0] != "pt-BR") {
				t.Errorf("upstream %s: got %q, want only X-App-Lang [pt-BR]", k, v)
			}
		}
		if got := r.Header.Get("X-App-Lang"); got != "pt-BR" {
			t.Errorf("response X-App-Lang: got %q, want pt-BR", got)
		}
	})
}

// TestI18nRules: the rules see the path without its prefix, and no
// spelling of a prefixed path is weaker than the path it names.
func TestI18nRules(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		user := fakebackend.Token("i18n-rules-user")
		e.be.SetUser(user, fakebackend.UserData("u-r", "user", nil))
		admin := fakebackend.Token("i18n-rules-admin")
		e.be.SetUser(admin, fakebackend.UserData("u-a", "user", "admin"))
		h := e.handler(t, e.opts(i18nOptions(m{"routes": m{"roles": []interface{}{
			m{"path": "/admin", "roles": testkit.List("admin")},
			m{"path": "/*/reports", "roles": testkit.List("admin")},
		}}})))
		for _, tc := range []struct {
			target                   string
			anonymous, asUser, admin int
		}{
			{"/tr/dashboard", 401, 200, 200},
			{"/TR/dashboard/x", 401, 200, 200},
			{"/tr/admin", 401, 403, 200},
			{"/Tr/ADMIN", 401, 403, 200},
			{"//tr//admin", 401, 403, 200},
			{"/tr/../admin", 401, 403, 200},
			{"/x/../en/admin", 401, 403, 200},
			{"/en;v=1/admin", 401, 403, 200},
			{"/en/reports", 401, 403, 200}, // the whole path's rule still holds
			{"/tr%2fadmin", 400, 400, 400},
			{"/tr/..%2Fadmin", 400, 400, 400},
			{"/tr/..;/admin", 400, 400, 400},
			{"/tr", 200, 200, 200},
			{"/tr/about", 200, 200, 200},
		} {
			for i, tok := range []string{"", user, admin} {
				rq := testkit.API(tc.target)
				if tok != "" {
					rq = rq.Cookie(testkit.UserCookie, tok)
				}
				want := []int{tc.anonymous, tc.asUser, tc.admin}[i]
				if r := e.do(t, h, rq); r.Code != want {
					t.Errorf("%s as %d: status %d, want %d (body %q)", tc.target, i, r.Code, want, r.Body)
				}
			}
		}
		t.Run("excluded under a prefix: no backend call, no cookie", func(t *testing.T) {
			before := e.be.Total()
			r := e.do(t, h, testkit.Page("/pt-BR/static/app.js").Cookie(testkit.UserCookie, fakebackend.Token("i18n-unknown")))
			testkit.WantAnonymous(t, r)
			testkit.WantNoSetCookie(t, r)
			testkit.WantBackendUntouched(t, e.be, before)
			wantLocale(t, r, "pt-BR")
		})
		t.Run("protectedByDefault", func(t *testing.T) {
			strict := e.handler(t, e.opts(i18nOptions(m{"routes": m{"protectedByDefault": "true"}})))
			for target, want := range map[string]int{
				"/en/about": 200, "/en/login": 200, "/en/other": 401, "/EN/about": 401, "/EN/login": 401, "/en/static/x": 200,
			} {
				if r := e.do(t, strict, testkit.API(target)); r.Code != want {
					t.Errorf("%s: status %d, want %d", target, r.Code, want)
				}
			}
		})
	})
}

// TestI18nRedirects: login and home redirects keep the request's prefix.
func TestI18nRedirects(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		user := fakebackend.Token("i18n-redirect")
		e.be.SetUser(user, fakebackend.UserData("u-redirect", "user", nil))
		h := e.handler(t, e.opts(i18nOptions()))
		q := url.QueryEscape
		for _, tc := range []struct {
			desc     string
			rq       testkit.Request
			status   int
			location string
		}{
			{"protected page", testkit.Page("/tr/dashboard?tab=2"), http.StatusFound, "/tr/login?redirect=" + q("/tr/dashboard?tab=2")},
			{"POST", testkit.Page("/en/dashboard").With(http.MethodPost), http.StatusSeeOther, "/en/login?redirect=" + q("/en/dashboard")},
			{"prefix in another case", testkit.Page("/PT-BR/dashboard"), http.StatusFound, "/pt-BR/login?redirect=" + q("/PT-BR/dashboard")},
			{"no prefix, locale from the cookie", testkit.Page("/dashboard").Cookie("locale", "en"), http.StatusFound, "/login?redirect=" + q("/dashboard")},
			{"logged in on a login page", testkit.Page("/tr/login").Cookie(testkit.UserCookie, user), http.StatusFound, "/tr"},
			{"logged in, return-to kept", testkit.Page("/tr/login?redirect="+q("/tr/dashboard")).Cookie(testkit.UserCookie, user), http.StatusFound, "/tr/dashboard"},
			{"logged in, return-to a login page", testkit.Page("/tr/login?redirect="+q("/en/login")).Cookie(testkit.UserCookie, user), http.StatusFound, "/tr"},
			{"logged in, off-site return-to", testkit.Page("/en/login?redirect="+q("//evil.example")).Cookie(testkit.UserCookie, user), http.StatusFound, "/en"},
			{"logged in, no prefix", testkit.Page("/login").Cookie(testkit.UserCookie, user).Cookie("locale", "en"), http.StatusFound, "/"},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				r := e.do(t, h, tc.rq)
				wantRedirectTo(t, r, tc.status, tc.location)
				testkit.WantNoStore(t, r)
			})
		}
		t.Run("API: JSON, no redirect", func(t *testing.T) {
			testkit.WantJSONError(t, e.do(t, h, testkit.API("/tr/dashboard")), http.StatusUnauthorized)
		})
		t.Run("custom login and home URLs", func(t *testing.T) {
			h := e.handler(t, e.opts(i18nOptions(m{"routes": m{"loginUrl": "/signin?from=app", "homeUrl": "/home", "authOnly": testkit.List("/signin")}})))
			wantRedirectTo(t, e.do(t, h, testkit.Page("/en/dashboard")), http.StatusFound, "/en/signin?from=app&redirect="+q("/en/dashboard"))
			wantRedirectTo(t, e.do(t, h, testkit.Page("/en/signin").Cookie(testkit.UserCookie, user)), http.StatusFound, "/en/home")
		})
		t.Run("absolute login URL left alone", func(t *testing.T) {
			h := e.handler(t, e.opts(i18nOptions(m{"routes": m{"loginUrl": "https://id.example.com/login"}})))
			wantRedirectTo(t, e.do(t, h, testkit.Page("/en/dashboard")), http.StatusFound, "https://id.example.com/login?redirect="+q("/en/dashboard"))
		})
	})
}

// TestI18nRememberedSession: requests answered from the remembered
// session still carry their own locale.
func TestI18nRememberedSession(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		tok := fakebackend.Token("i18n-memo")
		e.be.SetUser(tok, fakebackend.UserData("u-memo", "user", nil))
		h := e.handler(t, e.opts(i18nOptions()))
		for i, tc := range []struct {
			rq   testkit.Request
			want string
		}{
			{testkit.Page("/en/dashboard"), "en"},
			{testkit.Page("/tr/dashboard"), "tr"},
			{testkit.Page("/dashboard").WithHeader("Accept-Language", "pt-BR"), "pt-BR"},
			{testkit.Page("/dashboard").WithHeader("Accept-Language", "en"), "en"},
			{testkit.Page("/dashboard"), "tr"},
			{testkit.Page("/pt-BR/about").WithRawKey("X_Locale", "evil"), "pt-BR"},
		} {
			r := e.do(t, h, tc.rq.Cookie(testkit.UserCookie, tok))
			testkit.WantForwarded(t, r)
			if r.Upstream.Get(testkit.HeaderUserID) != "u-memo" {
				t.Errorf("request %d: upstream %s %q, want u-memo", i, testkit.HeaderUserID, r.Upstream.Get(testkit.HeaderUserID))
			}
			wantLocale(t, r, tc.want)
		}
		testkit.WantCount(t, e.be, fakebackend.Validate, 1)
	})
}

// TestI18nConfigErrors: bad i18n options fail New, naming the option.
func TestI18nConfigErrors(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			desc   string
			i18n   m
			routes m
			option string
		}{
			{"bad locale", m{"locales": testkit.List("en", "en_US")}, nil, "i18n.locales"},
			{"locale twice", m{"locales": "en,tr,EN"}, nil, "i18n.locales"},
			{"default not a locale", m{"locales": testkit.List("en"), "defaultLocale": "de"}, nil, "i18n.defaultLocale"},
			{"bad cookie name", m{"locales": testkit.List("en"), "cookie": "my;locale"}, nil, "i18n.cookie"},
			{"cookie is a token cookie", m{"locales": testkit.List("en"), "cookie": "guestToken"}, nil, "i18n.cookie"},
			{"bad header name", m{"locales": testkit.List("en"), "header": "X Locale"}, nil, "i18n.header"},
			{"header is an identity header", m{"locales": testkit.List("en"), "header": "X_Auth_User"}, nil, "i18n.header"},
			{"header is one clients send", m{"locales": testkit.List("en"), "header": "Accept-Language"}, nil, "i18n.header"},
			{"login page protected under a prefix", m{"locales": testkit.List("en")}, m{"protected": testkit.List("/en/login")}, "routes.loginUrl"},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				o := m{"i18n": tc.i18n}
				if tc.routes != nil {
					o["routes"] = tc.routes
				}
				_, err := e.factory(e.opts(o), e.up, t.Name())
				if err == nil || !strings.Contains(err.Error(), tc.option) {
					t.Errorf("New: got %v, want an error naming %s", err, tc.option)
				}
			})
		}
		if _, err := e.factory(e.opts(m{"i18n": m{"locales": testkit.List()}}), e.up, t.Name()+"-off"); err != nil {
			t.Errorf("no locales (i18n off): %v", err)
		}
	})
}

// TestI18nConcurrent: many first requests at once on a fresh handler (the
// interpreted locale code's first concurrent use), each with its own
// locale source, each gets its own locale.
func TestI18nConcurrent(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		tok := fakebackend.Token("i18n-concurrent")
		e.be.SetUser(tok, fakebackend.UserData("u-concurrent", "user", nil))
		h := e.handler(t, e.opts(i18nOptions()))
		type pending struct {
			ch   <-chan testkit.AsyncResult
			want string
		}
		var all []pending
		for i := 0; i < 48; i++ {
			var rq testkit.Request
			var want string
			switch i % 4 {
			case 0:
				rq, want = testkit.Page("/en/dashboard"), "en"
			case 1:
				rq, want = testkit.Page("/dashboard").WithHeader("Accept-Language", "pt-PT;q=0.9, de"), "pt-BR"
			case 2:
				rq, want = testkit.Page("/dashboard").Cookie("locale", "en").WithHeader("Accept-Language", "pt"), "en"
			default:
				rq, want = testkit.Page("/about").WithHeader("Accept-Language", "x-"+strings.Repeat("y", i%7+1)), "tr"
			}
			if i%2 == 0 {
				rq = rq.Cookie(testkit.UserCookie, tok)
			}
			all = append(all, pending{e.doAsync(h, rq), want})
		}
		for i, p := range all {
			r := await(t, p.ch, "request "+strconv.Itoa(i))
			if r.Code != http.StatusFound { // an anonymous request to /dashboard is redirected
				testkit.WantForwarded(t, r)
			}
			wantLocale(t, r, p.want)
		}
	})
}
