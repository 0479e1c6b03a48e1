package contract

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
)

// Error pages (issue 10): authlayer's own 401/403/429/503 answers to
// browsers are small HTML pages with a way back; errorPages.* replaces
// them with a file or a page of the app; API clients keep their JSON.

// builtinCSP is the built-in page's Content-Security-Policy.
const builtinCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

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
		_, _ = io.WriteString(w, upstreamBody)
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
	return m{"routes": m{"protected": list("/account"), "roles": []interface{}{m{"path": "/admin", "roles": list("admin")}}}}
}

// wantPage checks authlayer's built-in page: status, HTML, inert (CSP,
// nosniff), uncached, with its wording and links.
func wantPage(t *testing.T, r *result, status int, words string, links ...string) {
	t.Helper()
	wantNotForwarded(t, r)
	if r.code != status {
		t.Fatalf("status: got %d (body %q), want %d", r.code, r.body, status)
	}
	for name, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": builtinCSP,
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	wantNoStore(t, r)
	if !strings.HasPrefix(r.body, "<!doctype html>") || !strings.Contains(r.body, words) {
		t.Errorf("body: got %s, want a page saying %q", r.body, words)
	}
	for _, l := range links {
		if !strings.Contains(r.body, l) {
			t.Errorf("body: want the link %s in %s", l, r.body)
		}
	}
	if strings.Contains(r.body, "<script") {
		t.Errorf("body holds a script: %s", r.body)
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

		forbidden := e.do(t, h, page("/admin/users?tab=2").cookie(userCookie, tok))
		wantPage(t, forbidden, http.StatusForbidden,
			"You do not have permission to see this page.",
			`<a href="/">Go to the home page</a>`)
		if strings.Contains(forbidden.body, `href="/login`) {
			t.Errorf("the 403 page links the login page, a dead end for a signed-in user: %s", forbidden.body)
		}
		withLogout := e.handler(t, e.opts(roleOpts(), m{"endpoints": m{"logout": "/auth/logout"}}))
		wantPage(t, e.do(t, withLogout, page("/admin/users").cookie(userCookie, tok)), http.StatusForbidden,
			`<form method="post" action="/auth/logout?redirect=%2Flogin"><button type="submit">Sign in with another account</button></form>`)
		r := e.do(t, h, api("/admin/users").cookie(userCookie, tok))
		wantNotForwarded(t, r)
		if r.code != http.StatusForbidden || r.body != `{"success":false,"message":"Forbidden"}` || r.header.Get("Content-Security-Policy") != "" {
			t.Errorf("API 403: %d %q", r.code, r.body)
		}

		r = e.do(t, h, page("/account?x=1").cookie(userCookie, down))
		wantPage(t, r, http.StatusServiceUnavailable, "temporarily unavailable",
			`<a href="/account?x=1">Try again</a>`, `<a href="/">Go to the home page</a>`)
		if strings.Contains(r.body, "10.0.0.7") || strings.Contains(r.body, down) {
			t.Errorf("the 503 page shows the backend's answer or the token: %s", r.body)
		}
		wantNoCookieClearing(t, r)
		r = e.do(t, h, api("/account").cookie(userCookie, down))
		if r.code != http.StatusServiceUnavailable || r.body != `{"success":false,"message":"Authentication service unavailable"}` {
			t.Errorf("API 503: %d %q", r.code, r.body)
		}

		// Whatever the client puts in the address is escaped.
		evil := `/admin/x?q=%22%3E%3Cscript%3Ealert(1)%3C/script%3E&r='><img src=x onerror=alert(1)>`
		rq := page("/admin/x").cookie(userCookie, tok)
		req, _ := e.newRequest(rq)
		req.URL.RawQuery = strings.SplitN(evil, "?", 2)[1]
		req.RequestURI = evil
		res, err := serve(h, req)
		if err != nil {
			t.Fatal(err)
		}
		wantPage(t, res, http.StatusForbidden, "Access denied")
		if strings.Contains(res.body, "<img") || strings.Contains(res.body, "'>") {
			t.Errorf("the page reflects the request: %s", res.body)
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
		r := e.do(t, h, page("/admin").cookie(userCookie, tok))
		wantNotForwarded(t, r)
		if r.code != http.StatusForbidden || r.body != "<h1>Nope</h1>" || r.header.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Errorf("file page: %d %v %q", r.code, r.header, r.body)
		}
		wantNoStore(t, r)
		if r := e.do(t, h, api("/admin").cookie(userCookie, tok)); r.body != `{"success":false,"message":"Forbidden"}` {
			t.Errorf("API answer: %q", r.body)
		}

		for option, value := range map[string]string{
			"forbidden":       "file:" + filepath.Join(dir, "missing.html"),
			"unavailable":     "file:" + dir,
			"tooManyRequests": "https://elsewhere.example/429.html",
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
		rq := page("/admin/secret").cookie(userCookie, tok).cookie("other", "x").
			withHeader("Authorization", "Bearer client").withHeader("Accept-Language", "de").
			withRawKey("X_Auth_User", "forged")
		for i := 0; i < 5; i++ {
			r := e.do(t, h, rq.with(http.MethodPost))
			if r.code != http.StatusForbidden || r.body != "<h1>App 403</h1>" {
				t.Fatalf("refusal %d: %d %q", i, r.code, r.body)
			}
			wantNoStore(t, r)
		}
		if app.count() != 1 || app.paths[0] != "GET /errors/403.html" {
			t.Fatalf("fetches: %v, want one GET /errors/403.html", app.paths)
		}
		got := app.fetches[0]
		if got.Get("Accept-Language") != "de" {
			t.Errorf("the fetch lost Accept-Language: %v", got)
		}
		for k := range got {
			switch strings.ToLower(normHeader(k)) {
			case "cookie", "authorization", "x-auth-user", "x-auth-user-id", "x-auth-token-type", "content-type", "content-length":
				t.Errorf("the fetch carried %s: %q", k, got[k])
			}
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
			r := e.do(t, hb, page("/admin").cookie(userCookie, tok))
			wantPage(t, r, http.StatusForbidden, "Access denied")
			if tc.body != "" && strings.Contains(r.body, tc.body) {
				t.Errorf("%s: the app's answer leaked: %s", tc.desc, r.body)
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
		wantForwarded(t, e.do(t, h, from(page("/"), client)))
		r := e.do(t, h, from(page("/somewhere"), client))
		wantPage(t, r, http.StatusTooManyRequests, "Too many requests", `<a href="/somewhere">Try again</a>`)
		retry := r.header.Get("Retry-After")
		if retry == "" || r.header.Get("X-RateLimit-Remaining") != "0" || !strings.Contains(r.body, "Please wait "+retry+" seconds") {
			t.Errorf("429 page headers: %v", r.header)
		}
		wantRateLimited(t, e.do(t, h, from(api("/api/x"), client)))
		r = e.do(t, h, from(page("/api/x"), client)) // an API path: JSON whatever it accepts
		if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || r.body != fmt.Sprintf(`{"success":false,"message":%q,"retryAfter":%s}`, rateLimitedMessage, r.header.Get("Retry-After")) {
			t.Errorf("429 on an API path to a browser: %q %q", r.header.Get("Content-Type"), r.body)
		}
	})
}
