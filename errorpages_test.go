package authlayer

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// pageApp is an app serving error pages under /errors/ (its answer set
// by status and body) and "app" elsewhere; it records each page fetch.
type pageApp struct {
	mu      sync.Mutex
	status  int    // of /errors/ pages; 0 = 200
	body    string // of /errors/ pages
	fetches []*http.Request
	calls   int // requests outside /errors/
}

func (a *pageApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !strings.HasPrefix(r.URL.Path, "/errors/") {
		a.calls++
		_, _ = w.Write([]byte("app"))
		return
	}
	a.fetches = append(a.fetches, r)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Set-Cookie", "fromErrorPage=1")
	if a.status != 0 {
		w.WriteHeader(a.status)
	}
	_, _ = w.Write([]byte(a.body))
}

func (a *pageApp) fetchCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.fetches)
}

// pageMiddleware is the test middleware (a /admin role rule, /dashboard
// protected) in front of app.
func pageMiddleware(t *testing.T, f *fakeBackend, app http.Handler, mutate func(*Config)) http.Handler {
	t.Helper()
	h, _ := newTestMiddleware(t, f, mutate)
	h.(*middleware).next = app
	return h
}

// wantBuiltinPage checks authlayer's own page: status, HTML, the headers
// that keep it inert and uncached (forms allowed by its CSP only when it
// holds one), and its wording.
func wantBuiltinPage(t *testing.T, rec *httptest.ResponseRecorder, status int, words string) string {
	t.Helper()
	body := rec.Body.String()
	if rec.Code != status {
		t.Fatalf("status %d, want %d (body %s)", rec.Code, status, body)
	}
	csp := builtinPageCSP
	if strings.Contains(body, "<form") {
		csp = builtinFormPageCSP
	}
	h := rec.Header()
	for name, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
		"Content-Security-Policy": csp,
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !strings.HasPrefix(body, "<!doctype html>") || !strings.Contains(body, words) {
		t.Errorf("body %s: want an HTML page saying %q", body, words)
	}
	if strings.Contains(body, "<script") {
		t.Errorf("the page holds a script: %s", body)
	}
	return body
}

func TestBuiltinPagesForBrowsersJSONForScripts(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, nil)
	user := &http.Cookie{Name: "userToken", Value: "user-7"}

	body := wantBuiltinPage(t, serve(h, page("/admin/users?tab=1", user)), http.StatusForbidden, "You do not have permission to see this page.")
	if !strings.Contains(body, `<a href="/">Go to the home page</a>`) {
		t.Errorf("403 page: want the link home in %s", body)
	}
	// No link to the login page: it is auth-only for a signed-in user and
	// would bounce straight back here (without endpoints.logout there is
	// no way to sign in as someone else).
	if strings.Contains(body, `href="/login`) {
		t.Errorf("403 page links the login page, a dead end for a signed-in user: %s", body)
	}
	if strings.Contains(body, "user-7") || strings.Contains(body, "Forbidden</p>") {
		t.Errorf("403 page shows the token or the raw message: %s", body)
	}

	// The same refusal to a script is the JSON of before, exactly.
	req := page("/admin/users", user)
	req.Header.Set("Accept", "application/json")
	rec := serve(h, req)
	if rec.Code != http.StatusForbidden || rec.Body.String() != `{"success":false,"message":"Forbidden"}` ||
		rec.Header().Get("Content-Type") != "application/json; charset=utf-8" || rec.Header().Get("Content-Security-Policy") != "" {
		t.Errorf("API 403: %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}

	// A backend outage on a protected page: 503, a way to try again,
	// nothing of the backend's answer.
	body = wantBuiltinPage(t, serve(h, page("/dashboard", &http.Cookie{Name: "userToken", Value: "down-1"})),
		http.StatusServiceUnavailable, "Sign-in is temporarily unavailable")
	if !strings.Contains(body, `<a href="/dashboard">Try again</a>`) || strings.Contains(body, "down-1") {
		t.Errorf("503 page: %s", body)
	}
	// A POST's refusal: the same page, nothing of the form target.
	post := page("/admin/users", user)
	post.Method = http.MethodPost
	body = wantBuiltinPage(t, serve(h, post), http.StatusForbidden, "Access denied")
	if !strings.Contains(body, `<a href="/">Go to the home page</a>`) {
		t.Errorf("403 page after a POST: %s", body)
	}
	// With endpoints.logout, the 403 page offers to sign out to the login
	// page (a POST form: logout is never a GET), which brings the user
	// back to the denied page (see TestForbiddenPageSignOutComesBack).
	h2, _ := newTestMiddleware(t, f, func(c *Config) { c.Endpoints.Logout = "/auth/logout" })
	body = wantBuiltinPage(t, serve(h2, page("/admin/users", user)), http.StatusForbidden, "You do not have permission to see this page.")
	if !strings.Contains(body, `<form method="post" action="/auth/logout?redirect=%2Flogin%3Fredirect%3D%252Fadmin%252Fusers"><button type="submit">Sign in with another account</button></form>`) {
		t.Errorf("403 page with endpoints.logout: %s", body)
	}
	if up.calls != 0 {
		t.Errorf("the app was called %d times for refused requests", up.calls)
	}
}

func TestBuiltinPageEscapesWhatTheClientSent(t *testing.T) {
	f := newFakeBackend(t)
	h, _ := newTestMiddleware(t, f, nil)
	for _, tc := range []struct {
		target, token string
		status        int
	}{
		{`/admin?q="><script>alert(1)</script>`, "user-7", http.StatusForbidden},
		{`/admin/<svg/onload=alert(1)>`, "user-7", http.StatusForbidden},
		{`/admin?x='onmouseover='alert(1)`, "user-7", http.StatusForbidden},
		{`/admin?q=%22%3E%3Cscript%3Ealert(1)%3C/script%3E`, "user-7", http.StatusForbidden},
		// The 503 page's "Try again" links the request itself.
		{`/dashboard?q="><script>alert(1)</script>`, "down-3", http.StatusServiceUnavailable},
		{`/dashboard/<svg/onload=alert(1)>?'x'`, "down-3", http.StatusServiceUnavailable},
	} {
		target := tc.target
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path, req.URL.RawQuery, _ = strings.Cut(target, "?")
		req.RequestURI = target
		req.Header.Set("Accept", "text/html")
		req.AddCookie(&http.Cookie{Name: "userToken", Value: tc.token})
		body := wantBuiltinPage(t, serve(h, req), tc.status, "Error")
		if tc.status == http.StatusServiceUnavailable && !strings.Contains(body, "Try again") {
			t.Errorf("%s: no way to try again: %s", target, body)
		}
		if strings.Count(body, "<") != strings.Count(builtinShape(body), "<") || strings.Contains(body, "<svg") {
			t.Errorf("%s: the page reflects markup: %s", target, body)
		}
		for _, href := range hrefs(body) {
			if strings.ContainsAny(href, "<>'\" ") {
				t.Errorf("%s: link %q holds an unescaped character", target, href)
			}
		}
	}
}

// builtinShape is the page with its link targets emptied: the markup
// authlayer wrote, whatever the request was.
func builtinShape(body string) string {
	out := body
	for _, href := range hrefs(body) {
		out = strings.Replace(out, `href="`+href+`"`, `href=""`, 1)
	}
	return out
}

// hrefs are the page's link targets, as written.
func hrefs(body string) []string {
	var out []string
	for _, part := range strings.Split(body, `href="`)[1:] {
		end := strings.IndexByte(part, '"')
		if end < 0 {
			return append(out, part)
		}
		out = append(out, part[:end])
	}
	return out
}

func TestBuiltinPageWordsForCSRFAndUnknownMessages(t *testing.T) {
	f := newFakeBackend(t)
	h, _ := newTestMiddleware(t, f, func(c *Config) {
		c.CSRF = CSRFConfig{Enabled: true, Secret: strings.Repeat("s", 32), CookieName: "__csrf", HeaderName: "X-CSRF-Token"}
	})
	req := page("/form")
	req.Method = http.MethodPost
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	body := wantBuiltinPage(t, serve(h, req), http.StatusForbidden, "could not be confirmed as coming from this site")
	if strings.Contains(body, "CSRF validation failed") {
		t.Errorf("the page shows the internal message: %s", body)
	}
	// A message authlayer has no words for is never shown.
	m := h.(*middleware)
	rec := httptest.NewRecorder()
	deny(m, rec, page("/x"), &routeMatch{}, &authResult{}, http.StatusForbidden, "backend said: <b>db down</b> at 10.0.0.7")
	if b := rec.Body.String(); strings.Contains(b, "db down") || strings.Contains(b, "10.0.0.7") {
		t.Errorf("a caller's message reached the page: %s", b)
	}
}

func TestErrorPageFromFile(t *testing.T) {
	f := newFakeBackend(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "403.html")
	if err := os.WriteFile(file, []byte("<h1>Custom forbidden</h1>"), 0o600); err != nil {
		t.Fatal(err)
	}
	app := &pageApp{}
	h := pageMiddleware(t, f, app, func(c *Config) { c.ErrorPages.Forbidden = "file:" + file })
	rec := serve(h, page("/admin", &http.Cookie{Name: "userToken", Value: "user-7"}))
	if rec.Code != http.StatusForbidden || rec.Body.String() != "<h1>Custom forbidden</h1>" ||
		rec.Header().Get("Content-Type") != "text/html; charset=utf-8" || rec.Header().Get("X-Content-Type-Options") != "nosniff" ||
		rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("file page: %d %v %q", rec.Code, rec.Header(), rec.Body.String())
	}
	// The file was read by New: changing it later changes nothing.
	_ = os.WriteFile(file, []byte("changed"), 0o600)
	if rec := serve(h, page("/admin", &http.Cookie{Name: "userToken", Value: "user-7"})); rec.Body.String() != "<h1>Custom forbidden</h1>" {
		t.Errorf("the file was read again: %q", rec.Body.String())
	}
	// Other statuses keep the built-in page; scripts keep JSON.
	wantBuiltinPage(t, serve(h, page("/dashboard", &http.Cookie{Name: "userToken", Value: "down-2"})), http.StatusServiceUnavailable, "temporarily unavailable")
	req := page("/admin", &http.Cookie{Name: "userToken", Value: "user-7"})
	req.Header.Set("Accept", "application/json")
	if rec := serve(h, req); rec.Body.String() != `{"success":false,"message":"Forbidden"}` {
		t.Errorf("API answer with an error page configured: %q", rec.Body.String())
	}
	if app.fetchCount() != 0 || app.calls != 0 {
		t.Errorf("the app was asked: %d fetches, %d calls", app.fetchCount(), app.calls)
	}
}

func TestErrorPagesOptionErrors(t *testing.T) {
	f := newFakeBackend(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.html")
	_ = os.WriteFile(empty, nil, 0o600)
	for _, tc := range []struct {
		set    func(*ErrorPagesConfig, string)
		value  string
		option string
	}{
		{func(e *ErrorPagesConfig, v string) { e.Forbidden = v }, "file:" + filepath.Join(dir, "missing.html"), "errorPages.forbidden"},
		{func(e *ErrorPagesConfig, v string) { e.Unauthorized = v }, "file:" + empty, "errorPages.unauthorized"},
		{func(e *ErrorPagesConfig, v string) { e.Unavailable = v }, "file:" + dir, "errorPages.unavailable"},
		{func(e *ErrorPagesConfig, v string) { e.TooManyRequests = v }, "file:", "errorPages.tooManyRequests"},
		{func(e *ErrorPagesConfig, v string) { e.Forbidden = v }, "errors/403.html", "errorPages.forbidden"},
		{func(e *ErrorPagesConfig, v string) { e.Forbidden = v }, "https://user@app.example/403.html", "errorPages.forbidden"},
		{func(e *ErrorPagesConfig, v string) { e.Forbidden = v }, "https:///403.html", "errorPages.forbidden"},
		{func(e *ErrorPagesConfig, v string) { e.Forbidden = v }, "https://app.example/403.html#top", "errorPages.forbidden"},
		{func(e *ErrorPagesConfig, v string) { e.Forbidden = v }, "https://app.example//evil.example/403.html", "errorPages.forbidden"},
		{func(e *ErrorPagesConfig, v string) { e.Forbidden = v }, "ftp://app.example/403.html", "errorPages.forbidden"},
		{func(e *ErrorPagesConfig, v string) { e.Forbidden = v }, "//evil.example/403.html", "errorPages.forbidden"},
		{func(e *ErrorPagesConfig, v string) { e.Forbidden = v }, "/\\evil.example/403.html", "errorPages.forbidden"},
		{func(e *ErrorPagesConfig, v string) { e.Forbidden = v }, "/errors/403.html#top", "errorPages.forbidden"},
	} {
		c := CreateConfig()
		c.Backend.URL = f.srv.URL
		tc.set(&c.ErrorPages, tc.value)
		_, err := New(context.Background(), &upstream{}, c, t.Name())
		if err == nil || !strings.Contains(err.Error(), tc.option) {
			t.Errorf("%s = %q: error %v, want one naming %s", tc.option, tc.value, err, tc.option)
		}
	}
	c := CreateConfig()
	c.Backend.URL = f.srv.URL
	c.ErrorPages = ErrorPagesConfig{Unauthorized: "/errors/401.html", Forbidden: " /errors/403.html?lang=en ", TooManyRequests: "https://App.Example.com", Unavailable: "http://app.example.com:8080/e?x=1"}
	if _, err := New(context.Background(), &upstream{}, c, t.Name()); err != nil {
		t.Errorf("URL path pages refused: %v", err)
	}
}

func TestErrorPageFetchedFromTheApp(t *testing.T) {
	f := newFakeBackend(t)
	app := &pageApp{body: "<h1>App's own 403</h1>"}
	h := pageMiddleware(t, f, app, func(c *Config) { c.ErrorPages.Forbidden = "/errors/403.html?v=2" })
	req := page("/admin/users?secret=1", &http.Cookie{Name: "userToken", Value: "user-7"})
	req.Host = "evil.example"
	req.RemoteAddr = "198.51.100.7:4567"
	for k, v := range map[string]string{
		"Accept-Language": "tr", "Authorization": "Bearer client-token", "X-CSRF-Token": "abc",
		"If-None-Match": `"etag"`, "User-Agent": "<script>alert(1)</script>",
		"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "javascript",
		"X-Real-Ip": "203.0.113.9", "Forwarded": "host=evil.example", "Referer": "https://evil.example/",
	} {
		req.Header.Set(k, v)
	}
	req.RequestURI = "/admin/users?secret=1"
	rec := serve(h, req)
	if rec.Code != http.StatusForbidden || rec.Body.String() != "<h1>App's own 403</h1>" ||
		rec.Header().Get("Content-Type") != "text/html; charset=utf-8" || rec.Header().Get("Cache-Control") != "no-store" ||
		rec.Header().Get("Set-Cookie") != "" {
		t.Fatalf("fetched page: %d %v %q", rec.Code, rec.Header(), rec.Body.String())
	}
	// The page is sent as inert as the built-in one: no script runs.
	if rec.Header().Get("Content-Security-Policy") != configuredPageCSP || rec.Header().Get("X-Content-Type-Options") != "nosniff" ||
		!strings.Contains(configuredPageCSP, "default-src 'none'") || strings.Contains(configuredPageCSP, "script") {
		t.Errorf("fetched page headers: %v", rec.Header())
	}
	if app.fetchCount() != 1 {
		t.Fatalf("page fetches: %d, want 1", app.fetchCount())
	}
	got := app.fetches[0]
	if got.Method != http.MethodGet || got.URL.Path != "/errors/403.html" || got.URL.RawQuery != "v=2" ||
		got.RequestURI != "/errors/403.html?v=2" || got.Body != http.NoBody {
		t.Errorf("fetch: %s %s ?%s (RequestURI %q)", got.Method, got.URL.Path, got.URL.RawQuery, got.RequestURI)
	}
	// A fixed request: nothing of the refused client's, not even its
	// Host or address; X-Forwarded-For present and empty, so Traefik's
	// proxy adds none.
	want := http.Header{"Accept": {"text/html"}, "User-Agent": {errorPageUserAgent}, errorPageMarker: {"1"}, "X-Forwarded-For": nil}
	if fmt.Sprint(got.Header) != fmt.Sprint(want) || got.Host != "" || got.RemoteAddr != "" || got.URL.Host != "" {
		t.Errorf("fetch: headers %v, Host %q, RemoteAddr %q, URL %v; want headers %v and no host or address", got.Header, got.Host, got.RemoteAddr, got.URL, want)
	}
	// Within errorPageTTL the page is reused: a flood of refusals costs
	// the app one fetch.
	for i := 0; i < 20; i++ {
		if rec := serve(h, page("/admin", &http.Cookie{Name: "userToken", Value: "user-7"})); rec.Body.String() != "<h1>App's own 403</h1>" {
			t.Fatalf("refusal %d: %q", i, rec.Body.String())
		}
	}
	if app.fetchCount() != 1 || app.calls != 0 {
		t.Errorf("after 20 more refusals: %d fetches (want 1), %d app calls", app.fetchCount(), app.calls)
	}
}

func TestErrorPageFetchFallsBack(t *testing.T) {
	f := newFakeBackend(t)
	user := &http.Cookie{Name: "userToken", Value: "user-7"}
	for _, tc := range []struct {
		desc string
		app  *pageApp
	}{
		{"the app answers 404", &pageApp{status: http.StatusNotFound, body: "no such page"}},
		{"the app answers a redirect", &pageApp{status: http.StatusFound, body: "elsewhere"}},
		{"the app answers 500", &pageApp{status: http.StatusInternalServerError, body: "stack trace: main.go:12"}},
		{"the app answers nothing", &pageApp{}},
		{"the page is over the cap", &pageApp{body: strings.Repeat("x", errorPageMaxBytes+1)}},
	} {
		h := pageMiddleware(t, f, tc.app, func(c *Config) { c.ErrorPages.Forbidden = "/errors/403.html" })
		body := wantBuiltinPage(t, serve(h, page("/admin", user)), http.StatusForbidden, "Access denied")
		if strings.Contains(body, "stack trace") || strings.Contains(body, "no such page") {
			t.Errorf("%s: the app's answer leaked: %s", tc.desc, body)
		}
		// The failure is remembered too: no fetch per refusal.
		serve(h, page("/admin", user))
		if n := tc.app.fetchCount(); n != 1 {
			t.Errorf("%s: %d fetches, want 1", tc.desc, n)
		}
	}
}

// panickingApp panics on the page fetch, as httputil.ReverseProxy does
// (http.ErrAbortHandler) when the writer refuses the body.
type panickingApp struct{}

func (panickingApp) ServeHTTP(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }

func TestErrorPageFetchPanicIsAFailedFetch(t *testing.T) {
	f := newFakeBackend(t)
	h := pageMiddleware(t, f, panickingApp{}, func(c *Config) { c.ErrorPages.Forbidden = "/errors/403.html" })
	wantBuiltinPage(t, serve(h, page("/admin", &http.Cookie{Name: "userToken", Value: "user-7"})), http.StatusForbidden, "Access denied")
}

// loopbackApp hands page fetches back to the middleware in front of it, as
// an app proxying to its own public URL would.
type loopbackApp struct {
	mu    sync.Mutex
	front http.Handler
	loops int
}

func (a *loopbackApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/errors/") && !strings.HasPrefix(r.URL.Path, "/admin/") {
		_, _ = w.Write([]byte("app"))
		return
	}
	a.mu.Lock()
	a.loops++
	n := a.loops
	a.mu.Unlock()
	if n > 5 {
		w.WriteHeader(http.StatusLoopDetected)
		return
	}
	a.front.ServeHTTP(w, r)
}

func TestErrorPageFetchThatIsItselfDeniedDoesNotRecurse(t *testing.T) {
	f := newFakeBackend(t)
	// The 429 page's fetch comes back to the same middleware from the same
	// client, over its budget again: that refusal must not fetch the page
	// once more.
	app := &loopbackApp{}
	h := pageMiddleware(t, f, app, func(c *Config) {
		rateConfig(1, 100, 100)(c)
		c.ErrorPages.TooManyRequests = "/errors/429.html"
	})
	app.front = h
	serve(h, from(page("/"), "198.51.100.61"))
	wantBuiltinPage(t, serve(h, from(page("/"), "198.51.100.61")), http.StatusTooManyRequests, "Too many requests")
	// The fetch is nobody's request (no client address): its first
	// return is within the budget of "no address" and goes on to the app,
	// which sends it round again; the second is over that budget, and its
	// refusal finds the fetch's mark and fetches nothing.
	if app.loops != 2 {
		t.Errorf("the 429 page's fetch went round %d times, want twice", app.loops)
	}

	// The 403 page is on a path the fetch (anonymous) may not see: its
	// refusal is a login redirect, not a page.
	app2 := &loopbackApp{}
	h2 := pageMiddleware(t, f, app2, func(c *Config) { c.ErrorPages.Forbidden = "/admin/403.html" })
	app2.front = h2
	wantBuiltinPage(t, serve(h2, page("/admin", &http.Cookie{Name: "userToken", Value: "user-7"})), http.StatusForbidden, "Access denied")
	if app2.loops != 1 {
		t.Errorf("the 403 page's fetch went round %d times, want once", app2.loops)
	}

}

// TestErrorPageMarkerIsAuthlayersAlone: a client's X-Authlayer-Error-Page,
// in any spelling, never reaches the app (which may trust the header on
// authlayer's fetch), with or without errorPages, and does not change
// which page the client gets.
func TestErrorPageMarkerIsAuthlayersAlone(t *testing.T) {
	f := newFakeBackend(t)
	spellings := []string{"X-Authlayer-Error-Page", "x-authlayer-error-page", "X_Authlayer_Error_Page", "X.Authlayer.Error.Page", "X-AUTHLAYER-ERROR_PAGE"}
	for _, pages := range []bool{false, true} {
		app := &bodyApp{}
		h := pageMiddleware(t, f, app, func(c *Config) {
			c.Routes.Excluded = []string{"/static"}
			if pages {
				c.ErrorPages.Forbidden = "/errors/403.html"
			}
		})
		for _, target := range []string{"/", "/dashboard", "/static/app.js"} {
			for _, cookie := range []string{"user-7", ""} {
				req := page(target)
				if cookie != "" {
					req.AddCookie(&http.Cookie{Name: "userToken", Value: cookie})
				}
				for _, k := range spellings {
					req.Header[k] = []string{"1"}
				}
				app.header = nil
				serve(h, req)
				for k := range app.header {
					if normalizeHeaderName(k) == "x-authlayer-error-page" {
						t.Errorf("pages %v, %s, cookie %q: the app received %s", pages, target, cookie, k)
					}
				}
			}
		}
	}
	app := &pageApp{body: "<h1>page</h1>"}
	h := pageMiddleware(t, f, app, func(c *Config) { c.ErrorPages.Forbidden = "/errors/403.html" })
	req := page("/admin", &http.Cookie{Name: "userToken", Value: "user-7"})
	for _, k := range spellings {
		req.Header[k] = []string{"1"}
	}
	if rec := serve(h, req); rec.Body.String() != "<h1>page</h1>" || app.fetchCount() != 1 {
		t.Errorf("a client's marker: %q, %d fetches; want the app's page", rec.Body.String(), app.fetchCount())
	}
	// The app sees the marker on authlayer's own fetch only.
	if got := app.fetches[0].Header.Get(errorPageMarker); got != "1" {
		t.Errorf("the fetch's marker: %q", got)
	}
}

func TestRateLimitedBrowserGetsThePage(t *testing.T) {
	f := newFakeBackend(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "429.html")
	_ = os.WriteFile(file, []byte("<p>slow down</p>"), 0o600)
	for _, custom := range []bool{false, true} {
		h, _ := newTestMiddleware(t, f, func(c *Config) {
			rateConfig(1, 100, 100)(c)
			if custom {
				c.ErrorPages.TooManyRequests = "file:" + file
			}
		})
		serve(h, from(page("/"), "198.51.100.60"))
		rec := serve(h, from(page("/"), "198.51.100.60"))
		if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" ||
			rec.Header().Get("X-RateLimit-Remaining") != "0" || rec.Header().Get("Cache-Control") != "no-store" ||
			!strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Errorf("custom %v: 429 page: %d %v", custom, rec.Code, rec.Header())
		}
		if custom && rec.Body.String() != "<p>slow down</p>" {
			t.Errorf("custom 429 page: %q", rec.Body.String())
		}
		if !custom && !strings.Contains(rec.Body.String(), "Please wait "+rec.Header().Get("Retry-After")+" seconds") {
			t.Errorf("built-in 429 page: %s", rec.Body.String())
		}
		// A script over budget keeps the original's JSON, byte for byte.
		req := from(page("/api/x"), "198.51.100.60")
		req.Header.Set("Accept", "application/json")
		rec = serve(h, req)
		var body map[string]interface{}
		if rec.Code != http.StatusTooManyRequests || json.Unmarshal(rec.Body.Bytes(), &body) != nil ||
			rec.Body.String() != `{"success":false,"message":"Too many requests. Please try again later.","retryAfter":`+rec.Header().Get("Retry-After")+`}` {
			t.Errorf("custom %v: API 429: %d %q", custom, rec.Code, rec.Body.String())
		}
	}
}

func TestErrorPageFetchCutShortByTheClientIsNotRemembered(t *testing.T) {
	f := newFakeBackend(t)
	app := &pageApp{body: "<h1>page</h1>"}
	h := pageMiddleware(t, f, app, func(c *Config) { c.ErrorPages.Forbidden = "/errors/403.html" })
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client has gone
	gone := page("/admin", &http.Cookie{Name: "userToken", Value: "user-7"}).WithContext(ctx)
	serve(h, gone)
	rec := serve(h, page("/admin", &http.Cookie{Name: "userToken", Value: "user-7"}))
	if rec.Code != http.StatusForbidden || rec.Body.String() != "<h1>page</h1>" || app.fetchCount() != 2 {
		t.Errorf("after a departed client's fetch: %d %q, %d fetches; want the app's page, fetched again", rec.Code, rec.Body.String(), app.fetchCount())
	}
}

// TestForbiddenPageSignOutComesBack: the 403 page's "Sign in with another
// account" can be submitted (its CSP allows forms to this site, and only
// that page's), signs the user out and lands on the login page carrying
// the denied page as its return-to value.
func TestForbiddenPageSignOutComesBack(t *testing.T) {
	f := newFakeBackend(t)
	for _, csrf := range []bool{false, true} {
		h, up := newTestMiddleware(t, f, func(c *Config) {
			c.Endpoints.Logout = "/auth/logout"
			if csrf {
				c.CSRF = CSRFConfig{Enabled: true, Secret: strings.Repeat("s", 32), CookieName: "__csrf", HeaderName: "X-CSRF-Token"}
			}
		})
		// A token of its own per round: the sign-out marks it logged out
		// for every instance.
		user := &http.Cookie{Name: "userToken", Value: "user-1" + fmt.Sprint(csrf)}
		rec := serve(h, page("/admin/users?tab=1&q=a%20b", user))
		body := wantBuiltinPage(t, rec, http.StatusForbidden, "Access denied")
		if got := rec.Header().Get("Content-Security-Policy"); !strings.Contains(got, "form-action 'self'") || strings.Contains(got, "form-action 'none'") {
			t.Fatalf("csrf %v: the 403 page's CSP forbids its own form: %q", csrf, got)
		}
		_, rest, ok := strings.Cut(body, `<form method="post" action="`)
		action, _, _ := strings.Cut(rest, `"`)
		if !ok || action == "" {
			t.Fatalf("csrf %v: no sign-out form in %s", csrf, body)
		}
		action = html.UnescapeString(action)
		// The browser submits the form: same-origin, a form body.
		post := httptest.NewRequest(http.MethodPost, action, strings.NewReader(""))
		post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		post.Header.Set("Accept", "text/html")
		post.Header.Set("Sec-Fetch-Site", "same-origin")
		post.Header.Set("Origin", "http://example.com")
		post.AddCookie(user)
		rec = serve(h, post)
		loc := rec.Header().Get("Location")
		if rec.Code != http.StatusSeeOther || loc != "/login?redirect=%2Fadmin%2Fusers%3Ftab%3D1%26q%3Da%2520b" {
			t.Fatalf("csrf %v: the sign-out answered %d, Location %q; want 303 to the login page with the denied page", csrf, rec.Code, loc)
		}
		if !strings.Contains(strings.Join(rec.Header().Values("Set-Cookie"), "\n"), "userToken=;") {
			t.Errorf("csrf %v: the sign-out cleared no cookie: %v", csrf, rec.Header().Values("Set-Cookie"))
		}
		// Signed out, the login page is served, and names the way back.
		u, _ := url.Parse(loc)
		if got := u.Query().Get("redirect"); got != "/admin/users?tab=1&q=a%20b" {
			t.Errorf("csrf %v: the login page's return-to value %q", csrf, got)
		}
		before := up.calls
		if rec := serve(h, page(loc)); rec.Code != http.StatusOK || up.calls != before+1 {
			t.Errorf("csrf %v: the login page after signing out: %d", csrf, rec.Code)
		}
	}
	// Other pages keep forms forbidden; so does a 403 page without the
	// sign-out form.
	h, _ := newTestMiddleware(t, f, nil)
	if got := serve(h, page("/admin", &http.Cookie{Name: "userToken", Value: "user-2"})).Header().Get("Content-Security-Policy"); got != builtinPageCSP {
		t.Errorf("403 page without endpoints.logout: CSP %q", got)
	}
	h, _ = newTestMiddleware(t, f, func(c *Config) { c.Endpoints.Logout = "/auth/logout" })
	if got := serve(h, page("/dashboard", &http.Cookie{Name: "userToken", Value: "down-2"})).Header().Get("Content-Security-Policy"); got != builtinPageCSP {
		t.Errorf("503 page: CSP %q", got)
	}
	// A refused POST: no page to come back to, the login page alone.
	post := page("/admin/users", &http.Cookie{Name: "userToken", Value: "user-2"})
	post.Method = http.MethodPost
	if body := serve(h, post).Body.String(); !strings.Contains(body, `action="/auth/logout?redirect=%2Flogin"`) {
		t.Errorf("403 page after a POST: %s", body)
	}
}

// reflectingApp serves an error page that repeats the request it got (as
// a careless page might: "you came from …", "your browser …"), and counts
// the fetches.
type reflectingApp struct {
	mu      sync.Mutex
	fetches int
}

func (a *reflectingApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.fetches++
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<p>host=%s addr=%s ua=%s lang=%s locale=%s xff=%s xfh=%s xfp=%s fwd=%s ref=%s</p>",
		r.Host, r.RemoteAddr, r.UserAgent(), r.Header.Get("Accept-Language"), r.Header.Get("X-Locale"),
		r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Forwarded-Proto"),
		r.Header.Get("Forwarded"), r.Referer())
}

// TestErrorPageFetchIsTheSameForEveryClient: the fetched page is kept and
// served to every refused client, so nothing a client sends shapes it: a
// page reflecting its request shows authlayer's fixed request, never the
// first client's script.
func TestErrorPageFetchIsTheSameForEveryClient(t *testing.T) {
	f := newFakeBackend(t)
	for _, tc := range []struct {
		value, want string
	}{
		{"/errors/403.html", "<p>host= addr= ua=authlayer-error-page lang= locale= xff= xfh= xfp= fwd= ref=</p>"},
		{"https://App.Example.com:8443/errors/403.html", "<p>host=app.example.com:8443 addr= ua=authlayer-error-page lang= locale= xff= xfh=app.example.com:8443 xfp=https fwd= ref=</p>"},
	} {
		app := &reflectingApp{}
		h := pageMiddleware(t, f, app, func(c *Config) { c.ErrorPages.Forbidden = tc.value })
		attacker := page("/admin", &http.Cookie{Name: "userToken", Value: "user-7"})
		attacker.Host = "evil.example"
		attacker.RemoteAddr = "203.0.113.66:1234"
		for _, k := range []string{"User-Agent", "Accept-Language", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "Referer", "X-Locale"} {
			attacker.Header.Set(k, "<script>alert(1)</script>")
		}
		first := serve(h, attacker)
		second := serve(h, page("/admin", &http.Cookie{Name: "userToken", Value: "user-8"}))
		for i, rec := range []*httptest.ResponseRecorder{first, second} {
			if rec.Code != http.StatusForbidden || rec.Body.String() != tc.want {
				t.Errorf("%s, client %d: %d %q, want %q", tc.value, i, rec.Code, rec.Body.String(), tc.want)
			}
			if rec.Header().Get("Content-Security-Policy") != configuredPageCSP || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s, client %d: headers %v", tc.value, i, rec.Header())
			}
		}
		if app.fetches != 1 {
			t.Errorf("%s: %d fetches, want 1", tc.value, app.fetches)
		}
	}
}

// TestErrorPageCopyPerLocale: with i18n the page is asked in the request's
// locale (one of the configured ones, never the client's raw header), and
// a copy is kept per locale.
func TestErrorPageCopyPerLocale(t *testing.T) {
	f := newFakeBackend(t)
	app := &reflectingApp{}
	h := pageMiddleware(t, f, app, func(c *Config) {
		c.ErrorPages.Forbidden = "/errors/403.html"
		c.I18n.Locales = []string{"en", "tr"}
	})
	for i, tc := range []struct{ lang, want string }{
		{"tr-TR;q=0.9, <script>", "lang=tr locale=tr"},
		{"en", "lang=en locale=en"},
		{"tr", "lang=tr locale=tr"},
		{"x-klingon", "lang=en locale=en"},
	} {
		req := page("/admin", &http.Cookie{Name: "userToken", Value: "user-7"})
		req.Header.Set("Accept-Language", tc.lang)
		rec := serve(h, req)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("request %d (%q): %d %q, want %q", i, tc.lang, rec.Code, rec.Body.String(), tc.want)
		}
	}
	if app.fetches != 2 {
		t.Errorf("%d fetches, want one per locale (2)", app.fetches)
	}
}
