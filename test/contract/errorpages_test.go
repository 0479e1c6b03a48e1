package contract

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
)

// Error pages: authlayer's own 401/403/429/503 answers to
// browsers are small HTML pages with a way back; errorPages.* replaces
// them with a file or a page of the app; API clients keep their JSON.

// builtinCSP is the built-in page's Content-Security-Policy; formCSP the
// 403 page's when it holds the sign-out form; pageCSP an errorPages
// page's.
const (
	builtinCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	formCSP    = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	pageCSP    = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

// errorPageApp serves /errors/* pages (recording each request) and
// "upstream" elsewhere.
type errorPageApp struct {
	mu      sync.Mutex
	status  int
	body    string
	fetches []http.Header
	paths   []string
}

func (a *errorPageApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/errors/") {
		_, _ = io.WriteString(w, testkit.UpstreamBody)
		return
	}
	a.mu.Lock()
	a.fetches = append(a.fetches, r.Header.Clone())
	a.paths = append(a.paths, r.Method+" "+r.RequestURI)
	status, body := a.status, a.body
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if status != 0 {
		w.WriteHeader(status)
	}
	_, _ = io.WriteString(w, body)
}

func (a *errorPageApp) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.fetches)
}

// handlerIn builds the middleware in front of next, under a name of its
// own (suffix), so several can be built in one test.
func (e *env) handlerIn(t *testing.T, options m, next http.Handler, suffix string) http.Handler {
	t.Helper()
	h, err := e.factory(options, next, t.Name()+"#"+suffix)
	if err != nil {
		t.Fatalf("New(%v): unexpected error: %v", options, err)
	}
	return h
}

// roleOpts puts /admin behind the admin role.
func roleOpts() m {
	return m{"routes": m{"protected": testkit.List("/account"), "roles": []interface{}{m{"path": "/admin", "roles": testkit.List("admin")}}}}
}

// wantPage checks authlayer's built-in page: status, HTML, inert (CSP,
// nosniff; forms allowed only on a page holding one), uncached, with its
// wording and links.
func wantPage(t *testing.T, r *testkit.Result, status int, words string, links ...string) {
	t.Helper()
	testkit.WantNotForwarded(t, r)
	if r.Code != status {
		t.Fatalf("status: got %d (body %q), want %d", r.Code, r.Body, status)
	}
	csp := builtinCSP
	if strings.Contains(r.Body, "<form") {
		csp = formCSP
	}
	for name, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": csp,
	} {
		if got := r.Header.Get(name); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	testkit.WantNoStore(t, r)
	if !strings.HasPrefix(r.Body, "<!doctype html>") || !strings.Contains(r.Body, words) {
		t.Errorf("body: got %s, want a page saying %q", r.Body, words)
	}
	for _, l := range links {
		if !strings.Contains(r.Body, l) {
			t.Errorf("body: want the link %s in %s", l, r.Body)
		}
	}
	if strings.Contains(r.Body, "<script") {
		t.Errorf("body holds a script: %s", r.Body)
	}
}

// TestErrorPagesBuiltin: a browser refused by authlayer gets a readable
// page with a way back (home, and the login page with the page to return
// to on 403); scripts get exactly the JSON of before; nothing of the
// request, the token or the backend's answer shows.
func TestErrorPagesBuiltin(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(roleOpts()))
		tok, _ := freshUser(e, "pages-user", "u-pages")
		down := fakebackend.Token("pages-down")
		e.be.SetValidate(down, fakebackend.Answer{Status: http.StatusInternalServerError, Body: "panic: db at 10.0.0.7 refused"})

		forbidden := e.do(t, h, testkit.Page("/admin/users?tab=2").Cookie(testkit.UserCookie, tok))
		wantPage(t, forbidden, http.StatusForbidden,
			"You do not have permission to see this page.",
			`<a href="/">Go to the home page</a>`)
		if strings.Contains(forbidden.Body, `href="/login`) {
			t.Errorf("the 403 page links the login page, a dead end for a signed-in user: %s", forbidden.Body)
		}
		withLogout := e.handler(t, e.opts(roleOpts(), m{"endpoints": m{"logout": "/auth/logout"}}))
		wantPage(t, e.do(t, withLogout, testkit.Page("/admin/users").Cookie(testkit.UserCookie, tok)), http.StatusForbidden,
			`<form method="post" action="/auth/logout?redirect=%2Flogin%3Fredirect%3D%252Fadmin%252Fusers"><button type="submit">Sign in with another account</button></form>`)
		r := e.do(t, h, testkit.API("/admin/users").Cookie(testkit.UserCookie, tok))
		testkit.WantNotForwarded(t, r)
		if r.Code != http.StatusForbidden || r.Body != `{"success":false,"message":"Forbidden"}` || r.Header.Get("Content-Security-Policy") != "" {
			t.Errorf("API 403: %d %q", r.Code, r.Body)
		}

		r = e.do(t, h, testkit.Page("/account?x=1").Cookie(testkit.UserCookie, down))
		wantPage(t, r, http.StatusServiceUnavailable, "temporarily unavailable",
			`<a href="/account?x=1">Try again</a>`, `<a href="/">Go to the home page</a>`)
		if strings.Contains(r.Body, "10.0.0.7") || strings.Contains(r.Body, down) {
			t.Errorf("the 503 page shows the backend's answer or the token: %s", r.Body)
		}
		testkit.WantNoCookieClearing(t, r)
		r = e.do(t, h, testkit.API("/account").Cookie(testkit.UserCookie, down))
		if r.Code != http.StatusServiceUnavailable || r.Body != `{"success":false,"message":"Authentication service unavailable"}` {
			t.Errorf("API 503: %d %q", r.Code, r.Body)
		}

		// Whatever the client puts in the address is escaped.
		evil := `/admin/x?q=%22%3E%3Cscript%3Ealert(1)%3C/script%3E&r='><img src=x onerror=alert(1)>`
		rq := testkit.Page("/admin/x").Cookie(testkit.UserCookie, tok)
		req, _ := e.newRequest(rq)
		req.URL.RawQuery = strings.SplitN(evil, "?", 2)[1]
		req.RequestURI = evil
		res, err := serve(h, req)
		if err != nil {
			t.Fatal(err)
		}
		wantPage(t, res, http.StatusForbidden, "Access denied")
		if strings.Contains(res.Body, "<img") || strings.Contains(res.Body, "'>") {
			t.Errorf("the page reflects the request: %s", res.Body)
		}
	})
}

// TestErrorPagesFromFile: errorPages.<status> = file:<path> is read by New
// and sent with authlayer's status; an unreadable file is an error naming
// the option.
func TestErrorPagesFromFile(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		dir := t.TempDir()
		file := filepath.Join(dir, "403.html")
		if err := os.WriteFile(file, []byte("<h1>Nope</h1>"), 0o600); err != nil {
			t.Fatal(err)
		}
		h := e.handler(t, e.opts(roleOpts(), m{"errorPages": m{"forbidden": "file:" + file}}))
		tok, _ := freshUser(e, "pages-file-user", "u-file")
		r := e.do(t, h, testkit.Page("/admin").Cookie(testkit.UserCookie, tok))
		testkit.WantNotForwarded(t, r)
		if r.Code != http.StatusForbidden || r.Body != "<h1>Nope</h1>" || r.Header.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || r.Header.Get("Content-Security-Policy") != pageCSP {
			t.Errorf("file page: %d %v %q", r.Code, r.Header, r.Body)
		}
		testkit.WantNoStore(t, r)
		if r := e.do(t, h, testkit.API("/admin").Cookie(testkit.UserCookie, tok)); r.Body != `{"success":false,"message":"Forbidden"}` {
			t.Errorf("API answer: %q", r.Body)
		}

		for option, value := range map[string]string{
			"forbidden":       "file:" + filepath.Join(dir, "missing.html"),
			"unavailable":     "file:" + dir,
			"tooManyRequests": "https://user@elsewhere.example/429.html",
			"unauthorized":    "errors/401.html",
		} {
			_, err := e.factory(e.opts(m{"errorPages": m{option: value}}), e.up, t.Name()+"#"+option)
			if err == nil || !strings.Contains(err.Error(), "errorPages."+option) {
				t.Errorf("errorPages.%s = %q: error %v, want one naming the option", option, value, err)
			}
		}
	})
}

// TestErrorPagesFromTheApp: errorPages.<status> = /path is fetched from the
// app with a GET that carries none of the client's credentials, sent with
// authlayer's status, and reused (a flood of refusals costs the app one
// fetch); a failed fetch falls back to the built-in page.
func TestErrorPagesFromTheApp(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		app := &errorPageApp{body: "<h1>App 403</h1>"}
		h := e.handlerIn(t, e.opts(roleOpts(), m{"errorPages": m{"forbidden": "/errors/403.html"}}), app, "app")
		tok, _ := freshUser(e, "pages-app-user", "u-app")
		rq := testkit.Page("/admin/secret").Cookie(testkit.UserCookie, tok).Cookie("other", "x").
			WithHeader("Authorization", "Bearer client").WithHeader("Accept-Language", "de").
			WithRawKey("X_Auth_User", "forged")
		for i := 0; i < 5; i++ {
			r := e.do(t, h, rq.With(http.MethodPost))
			if r.Code != http.StatusForbidden || r.Body != "<h1>App 403</h1>" || r.Header.Get("Content-Security-Policy") != pageCSP ||
				r.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("refusal %d: %d %q %v", i, r.Code, r.Body, r.Header)
			}
			testkit.WantNoStore(t, r)
		}
		if app.count() != 1 || app.paths[0] != "GET /errors/403.html" {
			t.Fatalf("fetches: %v, want one GET /errors/403.html", app.paths)
		}
		got := app.fetches[0]
		for k := range got {
			switch strings.ToLower(testkit.NormHeader(k)) {
			case "accept", "user-agent", "x-authlayer-error-page", "x-forwarded-for":
			default:
				t.Errorf("the fetch carried %s: %q", k, got[k])
			}
		}
		if got.Get("User-Agent") != "authlayer-error-page" || got.Get("X-Forwarded-For") != "" || got.Get("X-Authlayer-Error-Page") != "1" {
			t.Errorf("the fetch's headers: %v", got)
		}

		for _, tc := range []struct {
			desc   string
			status int
			body   string
		}{
			{"404", http.StatusNotFound, "missing"},
			{"500 with a stack", http.StatusInternalServerError, "goroutine 1 [running]"},
			{"empty", 0, ""},
		} {
			bad := &errorPageApp{status: tc.status, body: tc.body}
			hb := e.handlerIn(t, e.opts(roleOpts(), m{"errorPages": m{"forbidden": "/errors/403.html"}}), bad, tc.desc)
			r := e.do(t, hb, testkit.Page("/admin").Cookie(testkit.UserCookie, tok))
			wantPage(t, r, http.StatusForbidden, "Access denied")
			if tc.body != "" && strings.Contains(r.Body, tc.body) {
				t.Errorf("%s: the app's answer leaked: %s", tc.desc, r.Body)
			}
		}
	})
}

// TestErrorPagesRateLimited: a browser over its budget gets the 429 page
// (Retry-After and X-RateLimit-* kept), a script the original's JSON.
func TestErrorPagesRateLimited(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, rateOpts(e, m{"requests": "1"}))
		const client = "198.51.100.90"
		testkit.WantForwarded(t, e.do(t, h, from(testkit.Page("/"), client)))
		r := e.do(t, h, from(testkit.Page("/somewhere"), client))
		wantPage(t, r, http.StatusTooManyRequests, "Too many requests", `<a href="/somewhere">Try again</a>`)
		retry := r.Header.Get("Retry-After")
		if retry == "" || r.Header.Get("X-RateLimit-Remaining") != "0" || !strings.Contains(r.Body, "Please wait "+retry+" seconds") {
			t.Errorf("429 page headers: %v", r.Header)
		}
		testkit.WantRateLimited(t, e.do(t, h, from(testkit.API("/api/x"), client)))
		r = e.do(t, h, from(testkit.Page("/api/x"), client)) // an API path: JSON whatever it accepts
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || r.Body != fmt.Sprintf(`{"success":false,"message":%q,"retryAfter":%s}`, testkit.RateLimitedMessage, r.Header.Get("Retry-After")) {
			t.Errorf("429 on an API path to a browser: %q %q", r.Header.Get("Content-Type"), r.Body)
		}
	})
}

// echoPageApp serves /errors/* pages that repeat the request they got (a
// careless page: "your browser …", links built from the Host) and counts
// them; "upstream" elsewhere, recording the headers by X-Test-Id.
type echoPageApp struct {
	mu      sync.Mutex
	fetches int
	byID    map[string]http.Header
}

func (a *echoPageApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !strings.HasPrefix(r.URL.Path, "/errors/") {
		if a.byID == nil {
			a.byID = map[string]http.Header{}
		}
		a.byID[r.Header.Get(testkit.HeaderTestID)] = r.Header.Clone()
		_, _ = io.WriteString(w, testkit.UpstreamBody)
		return
	}
	a.fetches++
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = fmt.Fprintf(w, "<p>host=%s addr=%s ua=%s lang=%s xff=%s xfh=%s xfp=%s real=%s fwd=%s</p>",
		r.Host, r.RemoteAddr, r.UserAgent(), r.Header.Get("Accept-Language"), r.Header.Get("X-Forwarded-For"),
		r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Real-Ip"), r.Header.Get("Forwarded"))
}

// TestErrorPagesFetchIsOneFixedRequest: the fetched page is served to
// every refused client for errorPageTTL, so no client shapes it: an app
// page that repeats its request shows authlayer's fixed request (the
// configured URL's host, or none), never the first client's script; and
// it is sent with a CSP that runs no script, and nosniff.
func TestErrorPagesFetchIsOneFixedRequest(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		tok, _ := freshUser(e, "pages-fixed-user", "u-fixed")
		for _, tc := range []struct{ value, want string }{
			{"/errors/403.html", "<p>host= addr= ua=authlayer-error-page lang= xff= xfh= xfp= real= fwd=</p>"},
			{"https://app.example.com/errors/403.html", "<p>host=app.example.com addr= ua=authlayer-error-page lang= xff= xfh=app.example.com xfp=https real= fwd=</p>"},
		} {
			app := &echoPageApp{}
			h := e.handlerIn(t, e.opts(roleOpts(), m{"errorPages": m{"forbidden": tc.value}}), app, tc.value)
			attack := testkit.Page("/admin").Cookie(testkit.UserCookie, tok)
			for _, k := range []string{"User-Agent", "Accept-Language", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "Forwarded"} {
				attack = attack.WithHeader(k, `"><script>alert(document.cookie)</script>`)
			}
			req, _ := e.newRequest(attack)
			req.Host = "evil.example"
			req.RemoteAddr = "203.0.113.66:4444"
			first, err := serve(h, req)
			if err != nil {
				t.Fatal(err)
			}
			second := e.do(t, h, testkit.Page("/admin").Cookie(testkit.UserCookie, tok))
			for i, r := range []*testkit.Result{first, second} {
				if r.Code != http.StatusForbidden || r.Body != tc.want {
					t.Errorf("%s, client %d: %d %q, want %q", tc.value, i, r.Code, r.Body, tc.want)
				}
				if r.Header.Get("Content-Security-Policy") != pageCSP || r.Header.Get("X-Content-Type-Options") != "nosniff" ||
					strings.Contains(r.Header.Get("Content-Security-Policy"), "script") {
					t.Errorf("%s, client %d: headers %v", tc.value, i, r.Header)
				}
				testkit.WantNoStore(t, r)
			}
			if app.fetches != 1 {
				t.Errorf("%s: %d fetches, want 1", tc.value, app.fetches)
			}
		}
	})
}

// TestErrorPagesMarkerNeverReachesTheApp: a client's X-Authlayer-Error-Page
// in any spelling is removed like an identity header, on every path and
// whether or not errorPages is set; it does not keep a client from the
// configured page.
func TestErrorPagesMarkerNeverReachesTheApp(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		tok, _ := freshUser(e, "pages-marker-user", "u-marker")
		spellings := []string{"X-Authlayer-Error-Page", "x_authlayer_error_page", "X.Authlayer.Error.Page", "X-AUTHLAYER-ERROR~PAGE"}
		for _, options := range []m{
			e.opts(roleOpts(), m{"routes": m{"excluded": testkit.List("/static")}}),
			e.opts(roleOpts(), m{"routes": m{"excluded": testkit.List("/static")}, "errorPages": m{"forbidden": "/errors/403.html"}}),
		} {
			app := &echoPageApp{}
			h := e.handlerIn(t, options, app, fmt.Sprint(len(options)))
			for _, rq := range []testkit.Request{testkit.Page("/"), testkit.Page("/static/x.css"), testkit.Page("/account").Cookie(testkit.UserCookie, tok), testkit.API("/api/x").Cookie(testkit.UserCookie, tok)} {
				for _, k := range spellings {
					rq = rq.WithRawKey(k, "1")
				}
				req, id := e.newRequest(rq)
				r, err := serve(h, req)
				if err != nil || r.Code != http.StatusOK {
					t.Fatalf("%s: %d %v", rq.Target, r.Code, err)
				}
				app.mu.Lock()
				got := app.byID[id]
				app.mu.Unlock()
				for k := range got {
					if testkit.NormHeader(k) == "x-authlayer-error-page" {
						t.Errorf("%s: the app received %s", rq.Target, k)
					}
				}
			}
			rq := testkit.Page("/admin").Cookie(testkit.UserCookie, tok)
			for _, k := range spellings {
				rq = rq.WithRawKey(k, "1")
			}
			r := e.do(t, h, rq)
			if _, paged := options["errorPages"]; paged && (r.Code != http.StatusForbidden || !strings.HasPrefix(r.Body, "<p>host=")) {
				t.Errorf("a client sending the marker: %d %q, want the app's page", r.Code, r.Body)
			}
		}
	})
}

// TestErrorPagesSignOutComesBack: the built-in 403 page's "Sign in with
// another account" form may be submitted (form-action 'self' on that page
// only); it signs the user out and lands on the login page, which carries
// the denied page as its return-to value.
func TestErrorPagesSignOutComesBack(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(roleOpts(), m{"endpoints": m{"logout": "/auth/logout"}, "routes": m{"authOnly": testkit.List("/login")}}))
		tok, _ := freshUser(e, "pages-switch-user", "u-switch")
		r := e.do(t, h, testkit.Page("/admin/reports?year=2026").Cookie(testkit.UserCookie, tok))
		wantPage(t, r, http.StatusForbidden, "Sign in with another account")
		if r.Header.Get("Content-Security-Policy") != formCSP {
			t.Fatalf("the 403 page's CSP %q does not let its form be sent", r.Header.Get("Content-Security-Policy"))
		}
		_, rest, _ := strings.Cut(r.Body, `<form method="post" action="`)
		action, _, _ := strings.Cut(rest, `"`)
		action = html.UnescapeString(action)
		out := e.do(t, h, testkit.Page(action).With(http.MethodPost).Cookie(testkit.UserCookie, tok).
			WithBody("application/x-www-form-urlencoded", "x=1").WithHeader("Sec-Fetch-Site", "same-origin"))
		loc := out.Header.Get("Location")
		if out.Code != http.StatusSeeOther || loc != "/login?redirect=%2Fadmin%2Freports%3Fyear%3D2026" {
			t.Fatalf("the sign-out: %d Location %q, want 303 to the login page back to the denied one", out.Code, loc)
		}
		testkit.WantCookieCleared(t, out, testkit.UserCookie)
		testkit.WantForwarded(t, e.do(t, h, testkit.Page(loc)))
		// Pages without the form keep forms forbidden (another token: the
		// sign-out ended this one everywhere).
		other, _ := freshUser(e, "pages-switch-other", "u-switch-other")
		wantPage(t, e.do(t, e.handler(t, e.opts(roleOpts())), testkit.Page("/admin").Cookie(testkit.UserCookie, other)), http.StatusForbidden, "Access denied")
	})
}
