package authlayer

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func i18nConfig(mutate func(*Config)) *Config {
	c := CreateConfig()
	c.Backend.URL = "http://auth.invalid"
	c.Routes.Protected = []string{"/dashboard"}
	c.Routes.AuthOnly = []string{"/login"}
	c.I18n.Locales = []string{"en", "tr", "pt-BR"}
	if mutate != nil {
		mutate(c)
	}
	return c
}

func TestI18nOptions(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		mutate func(*Config)
		option string // "" = accepted
	}{
		{"defaults", nil, ""},
		{"off", func(c *Config) { c.I18n.Locales = nil; c.I18n.Header = "" }, ""},
		{"one letter", func(c *Config) { c.I18n.Locales = []string{"en", "e"} }, "i18n.locales"},
		{"underscore", func(c *Config) { c.I18n.Locales = []string{"en_US"} }, "i18n.locales"},
		{"slash", func(c *Config) { c.I18n.Locales = []string{"tr/x"} }, "i18n.locales"},
		{"digit first", func(c *Config) { c.I18n.Locales = []string{"1en"} }, "i18n.locales"},
		{"empty subtag", func(c *Config) { c.I18n.Locales = []string{"pt--BR"} }, "i18n.locales"},
		{"twice in another case", func(c *Config) { c.I18n.Locales = []string{"en", "EN"} }, "i18n.locales"},
		{"region and digits", func(c *Config) { c.I18n.Locales = []string{"es-419", "zh-Hant-TW"} }, ""},
		{"default not listed", func(c *Config) { c.I18n.DefaultLocale = "de" }, "i18n.defaultLocale"},
		{"default in another case", func(c *Config) { c.I18n.DefaultLocale = "PT-br" }, ""},
		{"cookie empty", func(c *Config) { c.I18n.Cookie = "" }, "i18n.cookie"},
		{"cookie with a space", func(c *Config) { c.I18n.Cookie = "my locale" }, "i18n.cookie"},
		{"cookie is the user cookie", func(c *Config) { c.I18n.Cookie = "userToken" }, "i18n.cookie"},
		{"header empty", func(c *Config) { c.I18n.Header = "" }, "i18n.header"},
		{"header with a space", func(c *Config) { c.I18n.Header = "X Locale" }, "i18n.header"},
		{"header is X-Auth-User", func(c *Config) { c.I18n.Header = "x-auth-user" }, "i18n.header"},
		{"header aliases X-Auth-User-Id", func(c *Config) { c.I18n.Header = "X_Auth_User_Id" }, "i18n.header"},
		{"header is Authorization", func(c *Config) { c.I18n.Header = "Authorization" }, "i18n.header"},
		{"header is Accept-Language", func(c *Config) { c.I18n.Header = "Accept-Language" }, "i18n.header"},
		{"header is Cookie", func(c *Config) { c.I18n.Header = "Cookie" }, "i18n.header"},
		{"header is Host", func(c *Config) { c.I18n.Header = "Host" }, "i18n.header"},
		{"header aliases the method override", func(c *Config) { c.I18n.Header = "X.HTTP.Method.Override" }, "i18n.header"},
		{"header is verifiedBy", func(c *Config) { c.Headers.VerifiedBy = "X-Verified"; c.I18n.Header = "X-Verified" }, "i18n.header"},
		{"header is the CSRF header", func(c *Config) {
			c.CSRF = CSRFConfig{Enabled: true, Secret: strings.Repeat("s", 32), CookieName: "__csrf", HeaderName: "X-CSRF-Token"}
			c.I18n.Header = "X-Csrf-Token"
		}, "i18n.header"},
		{"own header name", func(c *Config) { c.I18n.Header = "X-Lang" }, ""},
		{"login page protected under a prefix", func(c *Config) { c.Routes.Protected = []string{"/tr"} }, "routes.loginUrl"},
		{"home auth-only under a prefix", func(c *Config) { c.Routes.AuthOnly = []string{"/login", "/en/home"}; c.Routes.HomeURL = "/home" }, "routes.homeUrl"},
		{"home an API path under a prefix", func(c *Config) {
			c.Routes.BlockBrowserAPI = true
			c.Routes.API = []string{"/*/start"}
			c.Routes.HomeURL = "/start"
		}, "routes.homeUrl"},
		{"home an API path under a prefix, blockBrowserApi off", func(c *Config) { c.Routes.API = []string{"/*/start"}; c.Routes.HomeURL = "/start" }, ""},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := compileSettings(i18nConfig(tc.mutate))
			switch {
			case tc.option == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.option != "" && (err == nil || !strings.Contains(err.Error(), "authlayer: "+tc.option+":")):
				t.Fatalf("got %v, want an error naming %s", err, tc.option)
			}
		})
	}
	s, err := compileSettings(i18nConfig(func(c *Config) { c.I18n.DefaultLocale = "PT-br" }))
	if err != nil || s.i18n.defaultLocale != "pt-BR" || s.i18n.header != "X-Locale" {
		t.Fatalf("default %q header %q (%v), want the configured spelling pt-BR and X-Locale", s.i18n.defaultLocale, s.i18n.header, err)
	}
	s, _ = compileSettings(i18nConfig(nil))
	if s.i18n.defaultLocale != "en" {
		t.Errorf("empty defaultLocale: got %q, want the first locale", s.i18n.defaultLocale)
	}
	if s, _ = compileSettings(i18nConfig(func(c *Config) { c.I18n.Locales = nil })); s.i18n != nil || s.routes.table.i18n != nil {
		t.Error("no locales: i18n is on")
	}
}

func TestI18nNegotiate(t *testing.T) {
	s, err := compileSettings(i18nConfig(func(c *Config) { c.I18n.Locales = []string{"en-GB", "tr", "pt", "es-419", "zh-Hant-TW"} }))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ header, want string }{
		{"tr", "tr"},
		{"TR-tr", "tr"},
		{"pt-BR", "pt"},
		{"pt-BR-x-private", "pt"},
		{"en-US", "en-GB"},
		{"en", "en-GB"},
		{"es-MX;q=0.9", "es-419"},
		{"zh-hant", "zh-Hant-TW"},
		{"de, tr;q=0.5, en;q=0.8", "en-GB"},
		{"tr, en", "tr"},
		{"en;q=0.5, tr;q=0.5", "en-GB"},
		{"tr;q=0, en;q=0.1", "en-GB"},
		{"tr;q=abc, pt", "pt"},
		{"tr;q=2, pt;q=0.1", "pt"},
		{"tr ; Q=0.3 , pt;q=0.2", "tr"},
		{"*", ""},
		{"*, tr;q=0.1", "tr"},
		{"fr, de", ""},
		{";q=1", ""},
		{"", ""},
		{",,,", ""},
		{strings.Repeat("fr,", 40) + "tr", ""}, // only the first 32 ranges count
	} {
		if got := negotiateLocale(s.i18n, tc.header); got != tc.want {
			t.Errorf("Accept-Language %q: got %q, want %q", tc.header, got, tc.want)
		}
		want := tc.want
		if want == "" {
			want = "en-GB" // the default: the first locale
		}
		req := page("/")
		req.Header["Accept-Language"] = []string{tc.header}
		for round := 0; round < 2; round++ { // negotiated, then remembered
			if got := requestLocale(s.i18n, req, &routeMatch{}); got != want {
				t.Errorf("Accept-Language %q (round %d): got %q, want %q", tc.header, round, got, want)
			}
		}
	}
	req := page("/")
	req.Header["Accept-Language"] = []string{"fr", "tr;q=0.5"} // two lines are one list
	if got := requestLocale(s.i18n, req, &routeMatch{}); got != "tr" {
		t.Errorf("two Accept-Language lines: got %q, want tr", got)
	}
	// The memo stays bounded.
	for i := 0; i < 3*maxAcceptMemo; i++ {
		req.Header["Accept-Language"] = []string{"fr-x" + strconv.Itoa(i)}
		requestLocale(s.i18n, req, &routeMatch{})
	}
	n := 0
	s.i18n.accept.Range(func(_, _ interface{}) bool { n++; return true })
	if n > maxAcceptMemo || s.i18n.remembered > maxAcceptMemo {
		t.Errorf("Accept-Language memo holds %d entries (count %d), want at most %d", n, s.i18n.remembered, maxAcceptMemo)
	}
}

// i18nRequest is a page request with an optional locale cookie and
// Accept-Language.
func i18nRequest(target, cookie, acceptLanguage string, more ...*http.Cookie) *http.Request {
	req := page(target, more...)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "locale", Value: cookie})
	}
	if acceptLanguage != "" {
		req.Header.Set("Accept-Language", acceptLanguage)
	}
	return req
}

func i18nMiddleware(t *testing.T, f *fakeBackend, mutate func(*Config)) (http.Handler, *upstream) {
	return newTestMiddleware(t, f, func(c *Config) {
		c.Guest.Enabled = false
		c.Routes.Public = []string{"/about"}
		c.I18n.Locales = []string{"en", "tr", "pt-BR"}
		if mutate != nil {
			mutate(c)
		}
	})
}

func TestI18nLocaleDetection(t *testing.T) {
	f := newFakeBackend(t)
	h, up := i18nMiddleware(t, f, func(c *Config) { c.I18n.DefaultLocale = "tr" })
	for _, tc := range []struct {
		target, cookie, acceptLanguage, want string
	}{
		{"/en/about", "pt-BR", "tr", "en"},
		{"/EN/about", "", "", "en"},
		{"//pt-br/about", "", "", "pt-BR"},
		{"/tr", "en", "", "tr"},
		{"/tr?x=1", "en", "", "tr"},
		{"/x/../en/about", "", "", "en"},
		{"/english/about", "", "", "tr"},
		{"/about/en", "", "", "tr"},
		{"/about", "pt-br", "en", "pt-BR"},
		{"/about", "de", "en", "en"},
		{"/about", "", "pt-PT, en;q=0.5", "pt-BR"},
		{"/about", "", "de", "tr"},
		{"/about", "", "", "tr"},
		{"/static/app.js", "en", "", "en"},  // excluded: forwarded with the locale too
		{"/tr/static/app.js", "", "", "tr"}, // "/static" under a prefix is excluded
	} {
		t.Run(tc.target+" "+tc.cookie+" "+tc.acceptLanguage, func(t *testing.T) {
			up.headers = nil
			rec := serve(h, i18nRequest(tc.target, tc.cookie, tc.acceptLanguage))
			if rec.Code != http.StatusOK || up.headers == nil {
				t.Fatalf("status %d, want the request forwarded", rec.Code)
			}
			if got := up.headers.Values("X-Locale"); len(got) != 1 || got[0] != tc.want {
				t.Errorf("upstream X-Locale: got %q, want [%q]", got, tc.want)
			}
			if got := rec.Header().Values("X-Locale"); len(got) != 1 || got[0] != tc.want {
				t.Errorf("response X-Locale: got %q, want [%q]", got, tc.want)
			}
		})
	}
	if f.validates.Load() != 0 {
		t.Errorf("anonymous requests called the backend %d times", f.validates.Load())
	}
}

// TestI18nClientCopiesStripped: a client's X-Locale, in any spelling,
// never reaches the app, on any kind of path.
func TestI18nClientCopiesStripped(t *testing.T) {
	f := newFakeBackend(t)
	h, up := i18nMiddleware(t, f, nil)
	user := &http.Cookie{Name: "userToken", Value: "user-5"}
	for _, target := range []string{"/tr/about", "/static/x.css", "/tr/dashboard", "/about"} {
		for _, name := range []string{"X-Locale", "X_Locale", "x.locale", "X~Locale", "X-LOCALE"} {
			up.headers = nil
			req := i18nRequest(target, "", "", user)
			req.Header[name] = []string{"evil\r\nX-Auth-User: x"}
			rec := serve(h, req)
			if up.headers == nil {
				t.Fatalf("%s: status %d, not forwarded", target, rec.Code)
			}
			want := "en"
			if strings.HasPrefix(target, "/tr") {
				want = "tr"
			}
			for k, v := range up.headers {
				if normalizeHeaderName(k) == "x-locale" && (k != "X-Locale" || len(v) != 1 || v[0] != want) {
					t.Errorf("%s with %s: upstream %s = %q, want only X-Locale [%q]", target, name, k, v, want)
				}
			}
		}
	}
}

func TestI18nRedirects(t *testing.T) {
	f := newFakeBackend(t)
	h, _ := i18nMiddleware(t, f, nil)
	user := &http.Cookie{Name: "userToken", Value: "user-3"}
	for _, tc := range []struct {
		desc, target, cookie string
		auth                 *http.Cookie
		want                 string
	}{
		{"prefixed page", "/tr/dashboard?a=1", "", nil, "/tr/login?redirect=%2Ftr%2Fdashboard%3Fa%3D1"},
		{"prefix in another case", "/PT-br/dashboard", "", nil, "/pt-BR/login?redirect=%2FPT-br%2Fdashboard"},
		{"merged slashes", "//tr/dashboard", "", nil, "/tr/login?redirect=%2F%2Ftr%2Fdashboard"},
		{"no prefix, locale cookie", "/dashboard", "tr", nil, "/login?redirect=%2Fdashboard"},
		{"auth-only to home", "/tr/login", "", user, "/tr"},
		{"auth-only, return-to kept", "/tr/login?redirect=%2Ftr%2Fdashboard", "", user, "/tr/dashboard"},
		{"auth-only, return-to to a login page", "/tr/login?redirect=%2Fen%2Flogin", "", user, "/tr"},
		{"auth-only, no prefix", "/login", "tr", user, "/"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var extra []*http.Cookie
			if tc.auth != nil {
				extra = append(extra, tc.auth)
			}
			rec := serve(h, i18nRequest(tc.target, tc.cookie, "", extra...))
			if rec.Code != http.StatusFound || rec.Header().Get("Location") != tc.want {
				t.Errorf("got %d Location %q, want 302 %q", rec.Code, rec.Header().Get("Location"), tc.want)
			}
		})
	}
	h, _ = i18nMiddleware(t, f, func(c *Config) { c.Routes.HomeURL = "/home?welcome=1"; c.Routes.LoginURL = "/login?next=1" })
	if rec := serve(h, i18nRequest("/en/dashboard", "", "")); rec.Header().Get("Location") != "/en/login?next=1&redirect=%2Fen%2Fdashboard" {
		t.Errorf("login URL with a query: %q", rec.Header().Get("Location"))
	}
	if rec := serve(h, i18nRequest("/en/login", "", "", user)); rec.Header().Get("Location") != "/en/home?welcome=1" {
		t.Errorf("home URL with a query: %q", rec.Header().Get("Location"))
	}
	h, _ = i18nMiddleware(t, f, func(c *Config) { c.Routes.LoginURL = "https://id.example.com/login"; c.Routes.HomeURL = "/tr/start" })
	if rec := serve(h, i18nRequest("/en/dashboard", "", "")); rec.Header().Get("Location") != "https://id.example.com/login?redirect=%2Fen%2Fdashboard" {
		t.Errorf("absolute login URL: %q", rec.Header().Get("Location"))
	}
	if rec := serve(h, i18nRequest("/en/login", "", "", user)); rec.Header().Get("Location") != "/tr/start" {
		t.Errorf("home URL that has a locale: %q, want it as configured", rec.Header().Get("Location"))
	}
}

// TestI18nRules: the rules decide on the path without its prefix, and a
// prefix never weakens them.
func TestI18nRules(t *testing.T) {
	f := newFakeBackend(t)
	h, _ := i18nMiddleware(t, f, func(c *Config) {
		c.Routes.Roles = []RoleRule{{Path: "/admin", Roles: []string{"admin"}}, {Path: "/*/reports", Roles: []string{"admin"}}}
	})
	user := &http.Cookie{Name: "userToken", Value: "user-1"}
	admin := &http.Cookie{Name: "userToken", Value: "user-admin"}
	for _, tc := range []struct {
		target    string
		anonymous int // status for an anonymous API request
		asUser    int // for a user without the admin role
		asAdmin   int
	}{
		{"/tr/dashboard", 401, 200, 200},
		{"/TR/Dashboard/x", 401, 200, 200},
		{"/tr/admin", 401, 403, 200},
		{"/Tr/admin", 401, 403, 200},
		{"//tr//admin", 401, 403, 200},
		{"/tr/../admin", 401, 403, 200},
		{"/x/../tr/admin", 401, 403, 200},
		{"/tr;v=1/admin", 401, 403, 200},
		{"/tr/reports", 401, 403, 200}, // "/*/reports" matches the whole path
		{"/tr/tr/reports", 401, 403, 200},
		{"/tr%2fadmin", 400, 400, 400},
		{"/tr/..%2fadmin", 400, 400, 400},
		{"/tr/..;/admin", 400, 400, 400},
		{"/tr", 200, 200, 200},
		{"/tr/about", 200, 200, 200},
		{"/en/static/x.js", 200, 200, 200},
	} {
		for i, c := range []*http.Cookie{nil, user, admin} {
			req := httptest.NewRequest(http.MethodGet, tc.target, nil)
			req.Header.Set("Accept", "application/json")
			if c != nil {
				req.AddCookie(c)
			}
			want := []int{tc.anonymous, tc.asUser, tc.asAdmin}[i]
			if rec := serve(h, req); rec.Code != want {
				t.Errorf("%s as %v: status %d, want %d", tc.target, c, rec.Code, want)
			}
		}
	}
}

// TestI18nRememberedSession: a remembered session (the fast path) still
// gets each request's own locale.
func TestI18nRememberedSession(t *testing.T) {
	f := newFakeBackend(t)
	h, up := i18nMiddleware(t, f, nil)
	user := &http.Cookie{Name: "userToken", Value: "user-9"}
	for i, tc := range []struct{ target, acceptLanguage, want string }{
		{"/tr/dashboard", "", "tr"},
		{"/en/dashboard", "tr", "en"},
		{"/dashboard", "pt-PT", "pt-BR"},
		{"/dashboard", "tr", "tr"},
		{"/dashboard", "", "en"},
		{"/pt-BR/about", "", "pt-BR"},
	} {
		up.headers = nil
		req := i18nRequest(tc.target, "", tc.acceptLanguage, user)
		req.Header["X_Locale"] = []string{"evil"}
		rec := serve(h, req)
		if rec.Code != 200 || up.headers == nil {
			t.Fatalf("%d %s: status %d", i, tc.target, rec.Code)
		}
		for k, v := range up.headers {
			if normalizeHeaderName(k) == "x-locale" && (k != "X-Locale" || len(v) != 1 || v[0] != tc.want) {
				t.Errorf("%d %s (%s): upstream %s %q, want only X-Locale [%q]", i, tc.target, tc.acceptLanguage, k, v, tc.want)
			}
		}
		if got := up.headers.Get("X-Locale"); got != tc.want {
			t.Errorf("%d %s (%s): upstream X-Locale %q, want %q", i, tc.target, tc.acceptLanguage, got, tc.want)
		}
		if got := rec.Header().Get("X-Locale"); got != tc.want {
			t.Errorf("%d %s: response X-Locale %q, want %q", i, tc.target, got, tc.want)
		}
	}
	if n := f.validates.Load(); n != 1 {
		t.Errorf("validations: %d, want 1", n)
	}
}

// ---- property: a locale prefix never weakens a decision -----------------

var i18nRuleSet = RoutesConfig{
	Protected: []string{"/dashboard", "/*/settings", "/en/secret"},
	Public:    []string{"/docs", "/public", "/dashboard/help", "/tr/open"},
	Excluded:  []string{"/static", "/**/favicon.ico", "/pt-BR/assets"},
	AuthOnly:  []string{"/login"},
	API:       []string{"/api", "/tr/data"},
	Roles: []RoleRule{
		{Path: "/admin", Roles: []string{"admin", "root"}},
		{Path: "/ops", Roles: []string{"ops", "root"}},
		{Path: "/*/admin", Roles: []string{"admin"}},
		{Path: "/en/reports", Roles: []string{"auditor", "admin"}},
	},
}

var i18nLocaleList = []string{"en", "tr", "pt-BR"}

var i18nDecisionSeeds = []string{
	"/tr/dashboard", "/tr", "/tr/", "/TR/admin", "//tr/admin", "/tr/../admin", "/tr%2f..", "/tr%2F..%2Fadmin",
	"/x/../tr/admin", "/x/../tr/dashboard", "/tr;x=1/admin", "/tr/..;/admin", "/Tr/static/x", "/tr/static/x", "/pt-br/admin",
	"/pt-BR/assets/a.js", "/PT-BR/assets/a.js", "/en/secret", "/EN/secret/x", "/tr/en/secret", "/en/reports",
	"/en/admin", "/tr/open", "/TR/open", "/tr/data/x", "/en/api/me", "/en/login", "/EN/login", "/tr/x/settings",
	"/tr/settings", "/en;x/..;/admin", "/tr/%2e%2e/admin", "/%74r/admin", "/tr/favicon.ico", "/en/dashboard/help",
}

func FuzzI18nDecision(f *testing.F) {
	for _, s := range i18nDecisionSeeds {
		f.Add(s)
	}
	f.Fuzz(checkI18nDecision)
}

func TestI18nDecisionSeeds(t *testing.T) {
	for _, s := range i18nDecisionSeeds {
		checkI18nDecision(t, s)
	}
	for _, base := range []string{"/tr/dashboard/settings", "/tr/admin/x", "/pt-BR/static/app.js", "/en/docs/a", "/en/secret"} {
		for _, ops := range spellingSeeds {
			checkI18nDecision(t, spell(base, ops))
		}
	}
}

// checkI18nDecision: with i18n on, the decision for any path is at least
// as strict as, for each reading an app may take of it (readings in
// fuzz_test.go, computed independently of canonical.go and i18n.go):
//
//   - without a locale prefix: the decision without i18n;
//   - with a prefix spelled as configured: every rule matching the reading
//     or the reading without its prefix (and protected under
//     protectedByDefault when no rule matches either);
//   - with a prefix in another case: the decisions without i18n for the
//     reading and for the reading without its prefix.
//
// It is refused exactly when it is refused without i18n, and carries the
// locale of its literal reading's first segment.
func checkI18nDecision(t *testing.T, target string) {
	u, err := url.ParseRequestURI(target)
	if err != nil || len(u.Path) > maxPathBytes {
		return
	}
	for _, byDefault := range []bool{false, true} {
		rules := i18nRuleSet
		rules.ProtectedByDefault = byDefault
		c := i18nConfig(func(c *Config) {
			c.Routes.Protected, c.Routes.Public, c.Routes.Excluded = rules.Protected, rules.Public, rules.Excluded
			c.Routes.AuthOnly, c.Routes.API, c.Routes.Roles = rules.AuthOnly, rules.API, rules.Roles
			c.Routes.ProtectedByDefault = byDefault
			c.I18n.Locales = i18nLocaleList
		})
		s, err := compileSettings(c)
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := newRouteTable(rules)
		bare, _ := newRouteTable(i18nRuleSet) // protectedByDefault off: rules alone
		for _, protect := range []bool{false, true} {
			r := decideRoute(newRouteMemo(s.routes.table, protect, nil), u.Path, u.RawPath)
			r0 := decideRoute(newRouteMemo(plain, protect, nil), u.Path, u.RawPath)
			if r.rejected != r0.rejected {
				t.Fatalf("%q: refused %v with i18n, %v without", target, r.rejected, r0.rejected)
			}
			if r.rejected {
				continue
			}
			all := readings(u.Path)
			if want, _, _ := oracleLocale(all[0]); r.locale != want {
				t.Fatalf("%q: locale %q, want %q", target, r.locale, want)
			}
			for _, reading := range all {
				checkI18nReading(t, target, *r, reading, byDefault, plain, bare)
			}
		}
	}
}

func checkI18nReading(t *testing.T, target string, r routeMatch, reading string, byDefault bool, plain, bare *routeTable) {
	loc, rest, exact := oracleLocale(reading)
	var wants []routeMatch
	switch {
	case loc == "":
		wants = append(wants, matchRoute(plain, reading))
	case exact:
		whole := matchRoute(bare, reading)
		stripped := matchRoute(bare, rest)
		for _, w := range []routeMatch{whole, stripped} {
			if w.kind != kindNone || w.api {
				wants = append(wants, w)
			}
		}
		if byDefault && whole.kind == kindNone && stripped.kind == kindNone && !r.needsUser {
			t.Fatalf("%q: no rule for reading %q either way, decided as kind %d, want protected by default", target, reading, int(r.kind))
		}
	default:
		wants = append(wants, matchRoute(plain, reading), matchRoute(plain, rest))
	}
	for _, w := range wants {
		if why := weakerThan(r, w); why != "" {
			t.Fatalf("%q (protectedByDefault %v) decided as kind %d roles %v api %v: %s than %+v for reading %q",
				target, byDefault, int(r.kind), r.roles, r.api, why, w, reading)
		}
	}
}

// oracleLocale splits a reading into the configured locale its first
// segment names in any case, the rest, and whether it is spelled exactly.
func oracleLocale(reading string) (string, string, bool) {
	segs := strings.SplitN(strings.TrimPrefix(reading, "/"), "/", 2)
	for _, l := range i18nLocaleList {
		if strings.EqualFold(segs[0], l) {
			rest := "/"
			if len(segs) == 2 {
				rest += segs[1]
			}
			return l, rest, segs[0] == l
		}
	}
	return "", reading, false
}
